-- A web process may take more than one photo: a photo that could not be
-- used (no face, unreadable, empty) lets the page send another, up to a
-- limit. `photos` counts the photos sent; `validation_id` is the latest.
ALTER TABLE processes ADD COLUMN photos INTEGER NOT NULL DEFAULT 1;
