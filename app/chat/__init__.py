"""The domain: sessions, the message tree, and exchanges with backends. No Flask request globals here."""
