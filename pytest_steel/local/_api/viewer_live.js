(() => {
  const url = new URL({{live_url}}, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const canvas = document.getElementById("live"), draw = canvas.getContext("2d");
  const text = (id, value) => { document.getElementById(id).textContent = value; };
  let deadline = null;
  window.steelFrames = 0;
  setInterval(() => {
    if (deadline !== null) text("time", Math.max(0, Math.round((deadline - Date.now()) / 1000)) + " s left");
  }, 1000);
  const socket = new WebSocket(url);
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "frame") {
      const image = new Image();
      image.onload = () => {
        canvas.width = image.width; canvas.height = image.height;
        draw.drawImage(image, 0, 0);
        window.steelFrames += 1;
      };
      image.src = "data:image/jpeg;base64," + message.data;
    } else if (message.type === "state") {
      text("status", message.status);
      deadline = Date.now() + message.timeLeftMs;
      text("shown", (message.title || "(untitled)") + " — " + message.url);
      const list = document.getElementById("pages");
      list.replaceChildren(...message.pages.map((page) => {
        const item = document.createElement("li");
        item.textContent = (page.title || "(untitled)") + " — " + page.url;
        return item;
      }));
    } else if (message.type === "ended") {
      deadline = null;
      text("status", message.status + (message.reason ? " (" + message.reason + ")" : ""));
      text("time", "ended");
    }
  };
})();
