-- Tenants and their credentials. Owned by the links service process, read by
-- every service (libs/auth.py) to verify bearer secrets.
CREATE TABLE accounts.accounts (
    account_id    text PRIMARY KEY,
    name          text NOT NULL,
    currency_code text NOT NULL DEFAULT 'USD',
    time_zone     text NOT NULL DEFAULT 'UTC',
    create_time   timestamptz NOT NULL DEFAULT now()
);

-- API keys, postback tokens and app keys. Only a SHA-256 of the secret is kept;
-- key_id is the public handle inside the secret (ctk_<key_id>_<secret>).
CREATE TABLE accounts.credentials (
    key_id      text PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts.accounts (account_id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('account', 'postback', 'app')),
    app_id      text,
    secret_hash bytea NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now(),
    revoke_time timestamptz,
    CHECK ((kind = 'app') = (app_id IS NOT NULL))
);
CREATE INDEX credentials_live ON accounts.credentials (account_id, kind, app_id) WHERE revoke_time IS NULL;
