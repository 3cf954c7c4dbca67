-- Console sign-ins, kept on the server: the browser's cookie holds only a random
-- token; a row is found by the token's SHA-256 (a database reader cannot sign in
-- with what is stored) and holds the account's API key encrypted with the
-- console secret (CLICKTRAIL_CONSOLE_SECRET). Sign-out deletes the row; a row
-- past expires_at is never honoured and is deleted at a later sign-in.
-- Looked up by token alone (no account in the request): a small table for the
-- coordinator when the data is distributed by account.
CREATE TABLE console.sessions (
    session_hash bytea PRIMARY KEY,
    account_id text NOT NULL,
    api_key_sealed text NOT NULL,
    account_name text NOT NULL,
    time_zone text NOT NULL,
    currency_code text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_expires_at ON console.sessions (expires_at);
CREATE INDEX sessions_account ON console.sessions (account_id);
