"""The embedded server's HTTP face: Steel's REST routes, request validation, the CDP relay's WebSocket,
the live view.
"""
