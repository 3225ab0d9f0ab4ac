// Proxy auto-configuration for explicit-proxy school networks (serve it as
// http://wpad.<school domain>/wpad.dat with Content-Type application/x-ns-proxy-autoconfig,
// or point devices and group policy at its URL).
//
// Everything goes through the prevent-monitor gateways except the school's own network and
// hosts that must not pass the filter. Two gateway processes are listed: browsers try the next
// if one does not answer. Adapt the addresses and ports.
function FindProxyForURL(url, host) {
  host = host.toLowerCase();
  if (isPlainHostName(host) ||
      shExpMatch(host, "*.local") ||
      isInNet(host, "10.0.0.0", "255.0.0.0") ||
      isInNet(host, "172.16.0.0", "255.240.0.0") ||
      isInNet(host, "192.168.0.0", "255.255.0.0") ||
      isInNet(host, "127.0.0.0", "255.0.0.0")) {
    return "DIRECT";
  }
  return "PROXY gateway.school.example:8080; PROXY gateway.school.example:8081";
}
