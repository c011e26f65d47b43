"""What the technician and the fleet see of a kiosk: status (`status`, `statusreport`, the status page and its
HTML, Prometheus export), the doctor and its checks, the feedback walk-through, systemd's notify protocol and
watchdog, and `kiosk verify`'s report."""
