-- Issue 25 §4 and §5. A notice keeps the trace id of the request that made it: its delivery, whenever it
-- happens, carries that trace in `traceparent` (app/tracing.py).
ALTER TABLE webhook_notices ADD COLUMN trace_id text;
