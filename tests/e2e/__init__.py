"""End-to-end tests: the daemon with a real Prometheus and Alertmanager on loopback."""
