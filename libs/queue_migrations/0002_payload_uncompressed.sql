-- Payloads are written once and read once: compressing them (pglz) costs more
-- CPU than the bytes it saves.
ALTER TABLE queue.jobs ALTER COLUMN payload SET STORAGE EXTERNAL;
