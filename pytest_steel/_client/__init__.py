"""The Steel API client: ``SteelClient``, ``AsyncSteelClient``, their models, errors, HTTP and retries.

Everything a script needs without pytest. Imports nothing of the rest of the package,
and neither pytest, Playwright nor aiohttp. The embedded server shares its wire names (``wire``, ``limits``).
"""
