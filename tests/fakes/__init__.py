"""Local HTTP stand-ins (Telegram Bot API, Twilio) that the real client libraries can talk to."""
