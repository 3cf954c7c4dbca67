-- Conversions counted against an offer's caps, per day of the account's time zone,
-- kept by RecordOfferConversions in the statement that records them: the caps'
-- refresh (every second per account per links replica) and GetOffer/ListOffers read
-- a few rows per offer instead of counting links.offer_conversions.
CREATE TABLE links.offer_cap_counts (
    account_id  text NOT NULL,
    offer_id    text NOT NULL,
    day         date NOT NULL,
    conversions bigint NOT NULL,
    PRIMARY KEY (account_id, offer_id, day)
);
INSERT INTO links.offer_cap_counts (account_id, offer_id, day, conversions)
SELECT account_id, offer_id, day, count(*) FROM links.offer_conversions WHERE NOT rejected
GROUP BY account_id, offer_id, day;
