-- Topic payloads are kept as the exact JSON text that was published (`json`, not `jsonb`):
-- jsonb re-orders keys and rewrites numbers (`1e2` → `100`), while the messages to OEBS must
-- reach the wire as they were written (field order, `100.50` as that literal). `json` still
-- checks that the text is JSON and still serves `->`/`->>` for queries.
alter table topic_message alter column payload type json using payload::json;
