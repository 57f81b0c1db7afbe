"""Delivery of outbox rows: e-mail over SMTP, SMS over Twilio, chat messages, or a local sink.

Flows never talk to these senders; they write outbox rows in their own transaction and the
:class:`~bot.notifications.worker.OutboxWorker` delivers them afterwards, retrying with backoff.
"""
