-- Issue 25 §4: a reaction may carry a comment and reasons (short tags), as feedback. A notice may carry
-- extra headers: the contract's MessageReactionEvent allows no other property, so a reaction's feedback
-- reaches the backend in a header of its notice (docs/webhooks.md).
ALTER TABLE reactions
    ADD COLUMN comment text CHECK (char_length(comment) <= 2000),
    ADD COLUMN reasons text[] NOT NULL DEFAULT '{}' CHECK (cardinality(reasons) <= 10);
ALTER TABLE webhook_notices ADD COLUMN headers jsonb;
