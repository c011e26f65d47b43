"""Upload to the central server (issue 4). The store already keeps what the uploader needs: `unsent()` in
device order and `mark_sent()` for the ids the server acknowledges."""
