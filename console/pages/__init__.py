"""The console's pages by group: each module's handlers take (Page, path params)
and return a Starlette Response; console/app.py routes to them."""
