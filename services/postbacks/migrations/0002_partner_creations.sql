-- Catalog partner creations in flight (CreateCatalogPartner): the intent is
-- written before the links service is asked for the partner and deleted by the
-- transaction that writes the partner's templates. A row left over (that
-- transaction rolled back, or the process died) names a partner to remove
-- from the links service; the sweeper does that and deletes the row.
CREATE TABLE postbacks.partner_creations (
    account_id  text NOT NULL,
    partner_id  text NOT NULL,
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, partner_id)
);
CREATE INDEX partner_creations_time ON postbacks.partner_creations (create_time);
