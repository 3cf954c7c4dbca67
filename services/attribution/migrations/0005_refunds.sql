-- Refunds are idempotent (review2 H1): a network resends a postback it got no
-- answer for, and a resent refund must not take the amount back twice. Each
-- refund applied to a conversion leaves its key here, inserted in the same
-- transaction as the conversion's new payout; a postback whose key is already
-- stored changes nothing ("unchanged"). refund_key: "id:<refund id>" when the
-- postback names one (the refund_id field's aliases), else "sha256:<hex>" of
-- the conversion, amount, currency, status word and parameters
-- (services/attribution/postback_refunds.py).
CREATE TABLE attribution.conversion_refunds (
    account_id    text NOT NULL,
    conversion_id text NOT NULL,
    refund_key    text NOT NULL,
    amount        numeric NOT NULL,
    postback_id   text NOT NULL,
    create_time   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account_id, conversion_id, refund_key)
);
