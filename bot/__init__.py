"""The web app (``bot.app.create_app``): LINE webhook, public pages, staff console, demo simulator; and the CLI."""
