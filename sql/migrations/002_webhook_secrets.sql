-- Webhook signing (issue 10 §5): every session type has its own secret; the engine signs each webhook
-- request with it (X-Chat-Engine-Signature). Existing rows get a fresh random secret each (the volatile
-- default is evaluated per row); the admin rotates it to learn it.
ALTER TABLE session_types
    ADD COLUMN webhook_secret text NOT NULL
        DEFAULT 'whsec_' || replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '')
        CHECK (webhook_secret ~ '^whsec_[A-Za-z0-9_-]{32,200}$');
