# A Housify host's complete nftables ruleset, from pure builtins (no nixpkgs),
# so the same function feeds the NixOS module (networking.nftables.ruleset)
# and any test that loads it with `nft -f` (e.g. in a network namespace):
#
#   nix-instantiate --eval --strict --json -E \
#     'import ./nixos/lib/render-nftables.nix { wanInterface = "wan0"; ... }'
#
# The ruleset is one table, `inet housify`, replaced atomically when loaded
# again (`table` + `delete table` + the table, in one transaction). Input
# policy drop; established/related traffic, loopback and the ICMP that IPv4
# and IPv6 need are accepted; forwarding is dropped; output is open.
#
# Parameters (required unless a default is shown):
#   wanInterface        interface facing the Internet, or null on a host with
#                       no such interface (behind a NAT router that forwards
#                       the public ports). Traffic arriving on it reaches the
#                       public ports and nothing else, whatever the other
#                       rules say.
#   lanInterface        interface of the private LAN: the only one internal
#                       ports are open on. Must differ from wanInterface.
#   lanSubnets          sources (IPv4/IPv6 CIDR or address) allowed to reach
#                       internalTcpPorts/internalUdpPorts on lanInterface; the
#                       Internet (0.0.0.0/0, ::/0) is refused.
#   internalTcpPorts    TCP ports for lanSubnets (PostgreSQL, Redis, NFS, the
#                       AI API, S3 ...). May be empty.
#   internalUdpPorts    UDP ports for lanSubnets (default [ ]).
#   publicTcpPorts      TCP ports open to everyone (default [ 80 443 ]; [ ] on
#                       a host that serves nothing publicly).
#   publicUdpPorts      UDP ports open to everyone (default [ 443 ], HTTP/3).
#   managementSubnets   sources allowed to reach sshPort on lanInterface
#                       (default [ ]: no SSH rule).
#   sshPort             default 22.
#   portSources         further LAN-only openings for narrower sources than
#                       lanSubnets, e.g. [ { ports = [ 8300 ]; sources =
#                       [ "10.0.1.11/32" ]; } ] (default [ ]).
#   openTcpPorts, openUdpPorts
#                       ports open to every source on every interface but the
#                       WAN (default [ ]): what networking.firewall's
#                       allowedTCPPorts/allowedUDPPorts hold, i.e. other NixOS
#                       modules' `openFirewall`, which this ruleset honours
#                       instead of running nixos-fw beside it.
#   openTcpRanges, openUdpRanges
#                       the same as [ { from; to; } ] (allowedTCPPortRanges).
#   openOnInterfaces    [ { interface; tcpPorts; udpPorts; } ]: openings on one
#                       interface (networking.firewall.interfaces.<name>);
#                       never the WAN (default [ ]).
#   extraInputRules     nftables rules appended to the input chain before the
#                       final drop (default "").
{
  wanInterface,
  lanInterface,
  lanSubnets,
  internalTcpPorts,
  internalUdpPorts ? [ ],
  publicTcpPorts ? [
    80
    443
  ],
  publicUdpPorts ? [ 443 ],
  managementSubnets ? [ ],
  sshPort ? 22,
  portSources ? [ ],
  openTcpPorts ? [ ],
  openUdpPorts ? [ ],
  openTcpRanges ? [ ],
  openUdpRanges ? [ ],
  openOnInterfaces ? [ ],
  extraInputRules ? "",
}:

let
  concatMap = f: list: builtins.concatStringsSep "" (map f list);
  isV6 = s: builtins.match ".*:.*" s != null;
  set = list: "{ ${builtins.concatStringsSep ", " (map toString list)} }";
  unique = builtins.foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ];

  isInterface = s: builtins.isString s && builtins.match "[A-Za-z0-9_.@:-]{1,15}" s != null;
  isSource =
    s:
    builtins.isString s
    && (
      builtins.match "[0-9]{1,3}(\\.[0-9]{1,3}){3}(/[0-9]{1,2})?" s != null
      || builtins.match "[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(/[0-9]{1,3})?" s != null
    );
  isInternet = s: builtins.elem s [ "0.0.0.0/0" "::/0" "0.0.0.0" "::" ];
  isPort = p: builtins.isInt p && p >= 1 && p <= 65535;
  ports = list: builtins.isList list && builtins.all isPort list;
  sources = list: builtins.isList list && builtins.all isSource list && !(builtins.any isInternet list);

  # One rule per address family: an anonymous set cannot mix ip and ip6.
  fromLan =
    srcs: match:
    let
      v4 = builtins.filter (s: !isV6 s) srcs;
      v6 = builtins.filter isV6 srcs;
    in
    (if v4 != [ ] then "        iifname \"${lanInterface}\" ip saddr ${set v4} ${match} accept\n" else "")
    + (if v6 != [ ] then "        iifname \"${lanInterface}\" ip6 saddr ${set v6} ${match} accept\n" else "");
  dport = proto: list: if list == [ ] then null else "${proto} dport ${set (unique list)}";
  lanRule = srcs: match: if match == null || srcs == [ ] then "" else fromLan srcs match;
  publicRule = match: if match == null then "" else "        ${match} accept\n";
  rangeRules =
    proto: ranges: concatMap (r: "        ${proto} dport ${toString r.from}-${toString r.to} accept\n") ranges;
  isRange = r: builtins.isAttrs r && isPort (r.from or null) && isPort (r.to or null) && r.from <= r.to;
  onInterface =
    e:
    let
      rule = match: if match == null then "" else "        iifname \"${e.interface}\" ${match} accept\n";
    in
    rule (dport "tcp" (e.tcpPorts or [ ])) + rule (dport "udp" (e.udpPorts or [ ]));
  openings =
    publicRule (dport "tcp" openTcpPorts)
    + publicRule (dport "udp" openUdpPorts)
    + rangeRules "tcp" openTcpRanges
    + rangeRules "udp" openUdpRanges
    + concatMap onInterface openOnInterfaces;

  checks = [
    {
      ok = wanInterface == null || isInterface wanInterface;
      message = "wanInterface ${builtins.toJSON wanInterface} is not an interface name (or null)";
    }
    {
      ok = isInterface lanInterface;
      message = "lanInterface ${builtins.toJSON lanInterface} is not an interface name";
    }
    {
      ok = wanInterface != lanInterface;
      message = "wanInterface and lanInterface are both ${builtins.toJSON lanInterface}";
    }
    {
      ok = sources lanSubnets;
      message = "lanSubnets must be addresses or CIDR subnets, not the whole Internet: ${builtins.toJSON lanSubnets}";
    }
    {
      ok = sources managementSubnets;
      message = "managementSubnets must be addresses or CIDR subnets, not the whole Internet: ${builtins.toJSON managementSubnets}";
    }
    {
      ok =
        ports internalTcpPorts && ports internalUdpPorts && ports publicTcpPorts && ports publicUdpPorts
        && isPort sshPort;
      message = "ports must be integers 1-65535";
    }
    {
      ok = (internalTcpPorts == [ ] && internalUdpPorts == [ ]) || lanSubnets != [ ];
      message = "internal ports are listed but lanSubnets is empty";
    }
    {
      ok = builtins.all (e: ports (e.ports or null) && sources (e.sources or null)) portSources;
      message = "portSources entries need ports (integers) and sources (not the whole Internet)";
    }
    {
      ok =
        ports openTcpPorts
        && ports openUdpPorts
        && builtins.all isRange (openTcpRanges ++ openUdpRanges)
        && builtins.all (
          e:
          isInterface (e.interface or null)
          && ports (e.tcpPorts or [ ])
          && ports (e.udpPorts or [ ])
        ) openOnInterfaces;
      message = "openTcpPorts/openUdpPorts need ports, the ranges { from; to; } with from <= to, openOnInterfaces { interface; tcpPorts; udpPorts; }";
    }
    {
      ok = !(builtins.any (e: e.interface == wanInterface) openOnInterfaces);
      message = "openOnInterfaces names the WAN interface ${builtins.toJSON wanInterface}: the WAN reaches the public ports only";
    }
  ];
  failed = builtins.filter (c: !c.ok) checks;
in
if failed != [ ] then
  throw "render-nftables.nix: ${(builtins.head failed).message}"
else
  ''
    table inet housify
    delete table inet housify

    table inet housify {
        chain input {
            type filter hook input priority filter; policy drop;

            ct state vmap { established : accept, related : accept, invalid : drop }
            iifname "lo" accept

            # ICMP errors of tracked flows are "related"; these are the ones
            # IPv4 and IPv6 need on their own (RFC 4890 for ICMPv6).
            ip protocol icmp icmp type { echo-request, destination-unreachable, time-exceeded, parameter-problem } limit rate 20/second accept
            ip6 nexthdr ipv6-icmp icmpv6 type { echo-request, destination-unreachable, packet-too-big, time-exceeded, parameter-problem } limit rate 20/second accept
            ip6 nexthdr ipv6-icmp icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } ip6 hoplimit 255 accept

    ${
      if wanInterface == null then
        ""
      else
        "        # The WAN reaches the public ports and nothing else.\n"
        + "        iifname \"${wanInterface}\" jump wan_input\n"
        + "        iifname \"${wanInterface}\" counter drop\n\n"
    }${publicRule (dport "tcp" publicTcpPorts)}${publicRule (dport "udp" publicUdpPorts)}${lanRule managementSubnets "tcp dport ${toString sshPort}"}${lanRule lanSubnets (dport "tcp" internalTcpPorts)}${lanRule lanSubnets (dport "udp" internalUdpPorts)}${
      concatMap (e: lanRule e.sources (dport "tcp" e.ports)) portSources
    }${
      if openings == "" then
        ""
      else
        "\n        # networking.firewall's openings (other modules' openFirewall): every interface but the WAN.\n"
        + openings
    }${extraInputRules}
            counter drop
        }

    ${
      if wanInterface == null then
        ""
      else
        "    chain wan_input {\n"
        + publicRule (dport "tcp" publicTcpPorts)
        + publicRule (dport "udp" publicUdpPorts)
        + "    }\n\n"
    }    chain forward {
            type filter hook forward priority filter; policy drop;
        }

        chain output {
            type filter hook output priority filter; policy accept;
        }
    }
  ''
