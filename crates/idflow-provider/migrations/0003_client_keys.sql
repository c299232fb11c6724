-- Clients' keys can be rotated (a new key id and hash; the old key stops
-- working) and revoked (no key works until the next rotation); the client and
-- its data stay.
ALTER TABLE clients ADD COLUMN rotated_at INTEGER;
ALTER TABLE clients ADD COLUMN revoked_at INTEGER;
