-- Custom fields visible to requesters (issue 18). Requesters see a ticket
-- through ticket.ForRequester: only the fields marked visible, their
-- values and their changes. Existing fields stay visible, as they were.
ALTER TABLE custom_fields ADD COLUMN visible_to_requester boolean NOT NULL DEFAULT true;

---- create above / drop below ----
ALTER TABLE custom_fields DROP COLUMN visible_to_requester;
