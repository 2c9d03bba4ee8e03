"""Orders the bot places or defends for a user: templates, outbid protection, pending orders.

Pure policy lives here; storage is in `bot.db.repositories` (templates, protections,
pending_orders) and the I/O (clore calls, messages) in `bot.services`.
"""
