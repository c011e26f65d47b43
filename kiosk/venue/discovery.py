"""Finding the venue's other gates: mDNS (python-zeroconf) on the local network, and the addresses the config
lists where multicast does not pass. What mDNS says is only an address to try: whoever answers there must still
sign as one of the venue's gates (`kiosk.venue.protocol`), so a false announcement costs a refused request.

    service  <device id>._kiosk-gate._tcp.local.   TXT venue=<venue code>, device=<device id>
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Sequence

from zeroconf import Error as ZeroconfError
from zeroconf import IPVersion, ServiceBrowser, ServiceInfo, ServiceStateChange, Zeroconf

log = logging.getLogger(__name__)
SERVICE = "_kiosk-gate._tcp.local."


class Directory:
    """Where the venue's other gates can be reached: device id (or the address itself, for configured ones) to
    host:port."""

    def __init__(self, device_id: str, venue: str, static: Sequence[str] = ()) -> None:
        self.device_id, self.venue = device_id, venue
        self._found: dict[str, str] = {}
        self._static = list(static)
        self._lock = threading.Lock()
        self._zeroconf: Zeroconf | None = None
        self._browser: ServiceBrowser | None = None

    def addresses(self) -> list[str]:
        with self._lock:
            return sorted(set(self._static) | set(self._found.values()))

    def announce(self, port: int, interfaces: Sequence[str] | None = None, address: str | None = None) -> None:
        """Announce this gate and look for the others (mDNS); a network without multicast only logs a warning.

        Done in a thread of its own: zeroconf takes over an asyncio loop it finds running in the calling thread
        (another library's, never run for it), so it is started where no loop runs and keeps its own."""
        starter = threading.Thread(target=self._announce, args=(port, interfaces, address), name="mdns", daemon=True)
        starter.start()
        starter.join(timeout=15)

    def _announce(self, port: int, interfaces: Sequence[str] | None, address: str | None) -> None:
        try:
            zc = Zeroconf(interfaces=list(interfaces) if interfaces else None, ip_version=IPVersion.V4Only)  # type: ignore[arg-type]
            host = address or _own_address()
            info = ServiceInfo(
                SERVICE,
                f"{self.device_id}.{SERVICE}",
                addresses=[socket.inet_aton(host)],
                port=port,
                properties={"venue": self.venue, "device": self.device_id},
                server=f"{self.device_id}.local.",
            )
            self._zeroconf = zc
            # A device id is unique (the centre gives it): no probing for a name conflict, so that announcing
            # costs one packet, not seconds of probes on a busy gate.
            zc.register_service(info, cooperating_responders=True)
            self._browser = ServiceBrowser(zc, SERVICE, handlers=[self._changed])
        except (OSError, ValueError, ZeroconfError) as exc:
            log.warning("mDNS unavailable (%r): the venue's other gates are reached at venue.peers only", exc)

    def close(self) -> None:
        zc, self._zeroconf = self._zeroconf, None
        if zc is not None:
            zc.unregister_all_services()
            zc.close()

    def _changed(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        device = name.removesuffix(f".{service_type}")
        if device == self.device_id:
            return
        if state_change is ServiceStateChange.Removed:
            with self._lock:
                self._found.pop(device, None)
            return
        info = zeroconf.get_service_info(service_type, name, timeout=2000)
        if info is None or info.properties.get(b"venue") != self.venue.encode() or not info.addresses:
            return
        address = f"{socket.inet_ntoa(info.addresses[0])}:{info.port}"
        with self._lock:
            self._found[device] = address
        log.info("found the venue's gate %s at %s", device, address)


def _own_address() -> str:
    """The address other hosts reach this one at (the interface of the default route), without sending anything."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routing only, no packet leaves
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"
