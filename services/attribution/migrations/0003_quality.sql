-- Traffic quality (issue 18): verdicts on installs and conversions, the
-- install / conversion check settings and the per-goal revenue ranges.
-- verdict: clicktrail.type.v1.Verdict (1 clean, 2 suspicious, 3 invalid);
-- reasons: bitmask of libs/quality.py reason codes (fixed bits). An invalid
-- (rejected) row is kept, listable and never deleted; it costs nothing and
-- fires no attributed postback. An invalid install keeps the campaign it
-- would have been credited to.

-- passed_over: the touches that would have won but were invalid, newest first:
--   [{"touch_id": "...", "kind": "click" | "impression", "reasons": ["bot_user_agent", ...]}]
-- update_time: bumped on every change (an overrule, an erasure); analytics
-- folds installs by it. Existing rows take their create_time.
ALTER TABLE attribution.installs
    ADD COLUMN verdict smallint NOT NULL DEFAULT 1 CHECK (verdict BETWEEN 1 AND 3),
    ADD COLUMN reasons bigint NOT NULL DEFAULT 0,
    ADD COLUMN passed_over jsonb,
    ADD COLUMN verdict_note text NOT NULL DEFAULT '',
    ADD COLUMN update_time timestamptz;
UPDATE attribution.installs SET update_time = create_time;
ALTER TABLE attribution.installs
    ALTER COLUMN update_time SET DEFAULT clock_timestamp(),
    ALTER COLUMN update_time SET NOT NULL;

ALTER TABLE attribution.conversions
    ADD COLUMN verdict smallint NOT NULL DEFAULT 1 CHECK (verdict BETWEEN 1 AND 3),
    ADD COLUMN reasons bigint NOT NULL DEFAULT 0,
    ADD COLUMN verdict_note text NOT NULL DEFAULT '';

-- Listing the flagged ones newest first without walking the clean ones.
CREATE INDEX installs_flagged ON attribution.installs (account_id, install_id) WHERE verdict <> 1;
CREATE INDEX conversions_flagged ON attribution.conversions (account_id, conversion_id) WHERE verdict <> 1;
-- install_burst: installs of an app from one /24 (IPv4) or /64 (IPv6) by receive time.
CREATE INDEX installs_subnet ON attribution.installs
    (account_id, app_id, (network(set_masklen(ip, CASE WHEN family(ip) = 4 THEN 24 ELSE 64 END))), receive_time)
    WHERE ip IS NOT NULL;

-- Install / conversion check settings: campaign_id '' holds the account's, a
-- campaign's row only the values it overrides (services/attribution/quality.py):
-- {"checks": {code: bool}, "click_injection_s": n, ...}.
CREATE TABLE attribution.quality_settings (
    account_id  text NOT NULL,
    campaign_id text NOT NULL DEFAULT '',
    settings    jsonb NOT NULL DEFAULT '{}',
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, campaign_id)
);

-- Allowed revenue of a goal's conversions in one currency (either bound may be
-- open); a conversion outside it is revenue_out_of_range. Goes with its goal.
CREATE TABLE attribution.revenue_ranges (
    account_id  text NOT NULL,
    range_id    text NOT NULL,
    goal_id     text NOT NULL,
    currency    text NOT NULL,
    min_amount  numeric(24, 6),
    max_amount  numeric(24, 6),
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, range_id),
    UNIQUE (account_id, goal_id, currency),
    FOREIGN KEY (account_id, goal_id) REFERENCES attribution.goals (account_id, goal_id) ON DELETE CASCADE,
    CHECK (min_amount IS NOT NULL OR max_amount IS NOT NULL),
    CHECK (min_amount IS NULL OR max_amount IS NULL OR min_amount <= max_amount)
);

-- Every operator overrule of an install's or a conversion's verdict (the row
-- itself carries the verdict, the `operator` reason bit and the last note).
-- kind: 'i' install, 'v' conversion.
CREATE TABLE attribution.verdict_overrules (
    account_id       text NOT NULL,
    overrule_id      text NOT NULL,
    kind             "char" NOT NULL CHECK (kind IN ('i', 'v')),
    target_id        text NOT NULL,
    previous_verdict smallint NOT NULL,
    verdict          smallint NOT NULL,
    note             text NOT NULL DEFAULT '',
    create_time      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account_id, overrule_id)
);
CREATE INDEX verdict_overrules_target ON attribution.verdict_overrules (account_id, target_id);
