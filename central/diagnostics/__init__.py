"""Remote diagnostics (docs/updates.md, "Remote diagnostics"): a technician asks a kiosk for its doctor's report
and last log lines; the request rides the kiosk's next config pull, the answer comes back by POST, since kiosks
sit behind NAT and the centre cannot call them. `tables` declares the table, `store` asks, offers and keeps,
`routes` takes the answer."""
