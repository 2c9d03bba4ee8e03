"""GigaSPOT Watch: a Telegram bot for renters on clore.ai's GigaSPOT market."""
