-- +goose Up

-- Memberships no longer check that their segment exists. Segments are never
-- deleted, and memberships are only written for the segments being
-- evaluated, so the check could not fail; but it ran a lookup of the segment,
-- which locked its row, for every membership entered: about a third of the
-- cost of recording a batch of entries.
ALTER TABLE segment.memberships DROP CONSTRAINT memberships_segment_fkey;

-- +goose Down
ALTER TABLE segment.memberships ADD CONSTRAINT memberships_segment_fkey FOREIGN KEY (segment) REFERENCES segment.segments (id);
