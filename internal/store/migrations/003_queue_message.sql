-- Finding whether a message still has queue entries (to drop its body when
-- the last recipient is done) must not scan the queue.
CREATE INDEX queue_message ON queue (message_id);
