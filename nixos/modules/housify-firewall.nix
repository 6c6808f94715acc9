# services.housify.firewall: the host's whole nftables ruleset, rendered by
# nixos/lib/render-nftables.nix (the function the topology test loads too).
# From the WAN only 80/tcp, 443/tcp and 443/udp (HTTP/3) where nginx runs;
# internal ports (PostgreSQL, Redis, NFS, Garage, AI, SOAP) only on the LAN
# interface and only from the listed subnets; SSH only from the management
# subnets. It replaces networking.firewall (two input-hook tables would each
# have to accept a packet).
#
# The LAN interface is named by the operator; no kernel names a NIC `lan0`,
# so a name the kernel does not give (anything but eth*/en*/wl*/ib*) needs
# `lanMacAddress`: the NIC with that MAC is renamed to it (a systemd .link).
{ config, lib, ... }:

let
  inherit (lib) types mkOption mkIf;
  cfg = config.services.housify.firewall;
  # What nixos/hosts/* set so they evaluate (`nix flake check`) before the operator fills in
  # the real MAC: locally administered, never a vendor's. A warning names it.
  placeholderMac = "02:00:00:00:00:00";
  edge = config.services.housify;
  ai = config.services.housify-ai;
  soap = config.services.housify-soap;

  internalPorts =
    cfg.internalTCPPorts
    ++ lib.optional (
      ai.enable && ai.api.enable && ai.api.listenAddress != "127.0.0.1"
    ) ai.api.port
    ++ lib.optionals (edge.enable && edge.lan.address != null) (
      [
        5432
        6379
      ]
      ++ lib.optional edge.storage.nfsExport 2049
    );

  ports = list: lib.concatMapStringsSep ", " toString (lib.unique list);
  soapRemote = soap.enable && soap.allowedSources != [ ];
  wideOpen = s: lib.elem s [ "0.0.0.0/0" "::/0" ];
  kernelName = name: builtins.match "(eth|en|wl|ib|ww|sl)[a-z0-9]*" name != null;

  # networking.firewall's options, which other modules' `openFirewall` write: honoured here on
  # every interface but the WAN (nixos-fw itself stays off, see the assertion below).
  nfw = config.networking.firewall;
  nfwInterfaces = lib.mapAttrsToList (name: i: {
    interface = name;
    tcpPorts = i.allowedTCPPorts or [ ];
    udpPorts = i.allowedUDPPorts or [ ];
  }) (removeAttrs (nfw.interfaces or { }) (lib.optional (cfg.wanInterface != null) cfg.wanInterface));
  nfwOnWan =
    cfg.wanInterface != null
    && (nfw.interfaces or { }) ? ${cfg.wanInterface}
    && (
      nfw.interfaces.${cfg.wanInterface}.allowedTCPPorts or [ ] != [ ]
      || nfw.interfaces.${cfg.wanInterface}.allowedUDPPorts or [ ] != [ ]
    );

  ruleset = import ../lib/render-nftables.nix {
    inherit (cfg) wanInterface lanInterface managementSubnets;
    lanSubnets = cfg.internalSubnets;
    internalTcpPorts = lib.unique internalPorts;
    publicTcpPorts = lib.optionals cfg.publicWeb [
      80
      443
    ];
    publicUdpPorts = lib.optionals cfg.publicWeb [ 443 ];
    portSources = lib.optional soapRemote {
      ports = [ soap.port ];
      sources = soap.allowedSources;
    };
    openTcpPorts = nfw.allowedTCPPorts or [ ];
    openUdpPorts = nfw.allowedUDPPorts or [ ];
    openTcpRanges = nfw.allowedTCPPortRanges or [ ];
    openUdpRanges = nfw.allowedUDPPortRanges or [ ];
    openOnInterfaces = nfwInterfaces;
    extraInputRules = cfg.extraInputRules + (nfw.extraInputRules or "");
  };
in
{
  options.services.housify.firewall = {
    enable = mkOption {
      type = types.bool;
      default = edge.enable || ai.enable || soap.enable;
      defaultText = lib.literalExpression "any Housify service enabled";
      description = "Manage this host's nftables firewall for Housify.";
    };

    lanInterface = mkOption {
      type = types.strMatching "[A-Za-z0-9_.-]{1,15}";
      example = "enp2s0";
      description = ''
        Interface on the LAN (behind pfSense); the only one internal ports are
        open on. Required, no default: `ip link` on the host names it, or pick
        a name such as `lan0` and set `lanMacAddress`.
      '';
    };

    lanMacAddress = mkOption {
      type = types.nullOr (types.strMatching "([0-9a-f]{2}:){5}[0-9a-f]{2}");
      default = null;
      example = "52:54:00:12:34:56";
      description = ''
        Permanent MAC address of the LAN NIC: a systemd .link renames it to
        `lanInterface`. Required when `lanInterface` is not a name the kernel
        gives (eth*, en*, wl*, ib*).
      '';
    };

    wanInterface = mkOption {
      type = types.nullOr (types.strMatching "[A-Za-z0-9_.-]{1,15}");
      default = null;
      example = "enp1s0";
      description = ''
        Interface facing the Internet, when the host has one: traffic arriving
        there reaches 80/443 and nothing else. null behind a NAT router
        (pfSense forwards the public ports to the LAN address).
      '';
    };

    extraInputRules = mkOption {
      type = types.lines;
      default = "";
      description = "nftables rules added to the input chain before the final drop (the ruleset replaces networking.firewall).";
    };

    internalSubnets = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "10.0.1.0/24" ];
      description = "Sources (CIDR) allowed to reach internal ports (PostgreSQL, Redis, NFS, AI API).";
    };

    managementSubnets = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "10.0.99.0/24" ];
      description = "Sources (CIDR) allowed to reach SSH (port 22) on the LAN interface.";
    };

    internalTCPPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
      description = ''
        Extra TCP ports for `internalSubnets`. Ports of enabled Housify services
        (PostgreSQL, Redis, NFS on the edge; Garage; the AI API when bound to
        the LAN) are added automatically.
      '';
    };

    publicWeb = mkOption {
      type = types.bool;
      default = config.services.nginx.enable or false;
      defaultText = lib.literalExpression "config.services.nginx.enable";
      description = "Open 80/tcp, 443/tcp and 443/udp (QUIC) to everyone.";
    };
  };

  config = mkIf cfg.enable {
    warnings =
      lib.optional nfwOnWan "networking.firewall.interfaces.${cfg.wanInterface} opens ports on the WAN interface; services.housify.firewall lets the WAN reach only the public ports (80/443), so those are not opened."
      ++ lib.optional (cfg.lanMacAddress == placeholderMac) "services.housify.firewall.lanMacAddress is the example hosts' placeholder ${placeholderMac}: no NIC has it, so none is renamed ${cfg.lanInterface} and the LAN rules match nothing. Set your LAN NIC's MAC (ip link).";

    assertions = [
      {
        assertion = !(lib.any wideOpen (cfg.internalSubnets ++ cfg.managementSubnets));
        message = "services.housify.firewall: internalSubnets/managementSubnets must not contain 0.0.0.0/0 or ::/0.";
      }
      {
        assertion = !(config.services.openssh.enable or false) || cfg.managementSubnets != [ ];
        message = "services.housify.firewall.managementSubnets is empty: SSH would be unreachable.";
      }
      {
        assertion = !(config.services.openssh.openFirewall or false);
        message = "services.openssh.openFirewall must be false on Housify hosts: SSH is allowed from managementSubnets only.";
      }
      {
        assertion = kernelName cfg.lanInterface || cfg.lanMacAddress != null;
        message = "services.housify.firewall.lanInterface is \"${cfg.lanInterface}\", a name no kernel gives a NIC: set services.housify.firewall.lanMacAddress to that NIC's MAC (ip link) so the host renames it, or set lanInterface to the kernel's name (e.g. enp2s0). The example hosts set the placeholder ${placeholderMac}, which evaluates but matches no NIC until replaced.";
      }
      {
        # Two input chains with policy drop (nixos-fw's and this one) would each have to accept
        # every packet: every rule twice. Instead this ruleset carries networking.firewall's
        # allowed ports, ranges, per-interface ports and extraInputRules (other modules'
        # openFirewall) on every interface but the WAN.
        assertion = !(config.networking.firewall.enable or false);
        message = "services.housify.firewall owns the host's nftables ruleset and already applies networking.firewall's allowedTCPPorts/allowedUDPPorts/ranges/interfaces/extraInputRules (other modules' openFirewall) on every interface but the WAN: leave networking.firewall.enable false.";
      }
      {
        assertion = internalPorts == [ ] || cfg.internalSubnets != [ ];
        message = "services.housify.firewall.internalSubnets is empty but internal ports (${ports internalPorts}) are served on the LAN.";
      }
    ];

    networking.nftables = {
      enable = true;
      inherit ruleset;
    };
    networking.firewall.enable = lib.mkDefault false;

    systemd.network.links = mkIf (cfg.lanMacAddress != null) {
      "10-housify-lan" = {
        matchConfig.PermanentMACAddress = cfg.lanMacAddress;
        linkConfig.Name = cfg.lanInterface;
      };
    };
    services.openssh.openFirewall = lib.mkDefault false;
  };
}
