-- Sub-id report rows without the campaign (services/analytics/subs_derived.py,
-- SubsDerived): per account, UTC day, sub number and value, the counts, goals
-- and money (cost from tariffs and corrections included) that a report by day
-- and that sub-id gives, built from report_*_subs once a day is past. A report
-- by sub-id over 30 days reads 300 values x 30 days of these instead of every
-- campaign's rows, and adds up the cost of none of them.
--
-- A built day is used only while nothing it was built from has changed:
-- report_day_versions counts the folds (and recounts) into each account's UTC
-- day, and ``fingerprint`` is an md5 of the account's tariffs, campaign target
-- goals and corrections at build time. A day that no longer matches is read
-- from the cubes again until it is rebuilt.

CREATE TABLE analytics.report_day_versions (
    account_id text NOT NULL,
    day        date NOT NULL,
    version    bigint NOT NULL,
    PRIMARY KEY (account_id, day)
);

CREATE TABLE analytics.report_subs_derived_days (
    account_id  text NOT NULL,
    day         date NOT NULL,
    version     bigint NOT NULL,
    fingerprint text NOT NULL,
    build_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, day)
);

-- The g_* arrays: one entry per (goal, revenue currency); c_*: per cost currency
-- (a currency may repeat: the reader adds them up).
CREATE TABLE analytics.report_subs_derived (
    account_id  text NOT NULL,
    sub_no      smallint NOT NULL,
    day         date NOT NULL,
    sub_value   text NOT NULL,
    clicks      bigint NOT NULL,
    uniq        bigint NOT NULL,
    imps        bigint NOT NULL,
    installs    bigint NOT NULL,
    convs       bigint NOT NULL,
    approved    bigint NOT NULL,
    g_ids       text[],
    g_curs      text[],
    g_convs     bigint[],
    g_approved  bigint[],
    g_revenue   numeric[],
    c_curs      text[],
    costs       numeric[],
    PRIMARY KEY (account_id, sub_no, day, sub_value)
);
