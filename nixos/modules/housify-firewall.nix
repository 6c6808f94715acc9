# services.housify.firewall: nftables rules for a Housify host behind pfSense.
# From the WAN only 80/tcp, 443/tcp and 443/udp (HTTP/3) where nginx runs;
# internal ports (PostgreSQL, Redis, NFS, AI, SOAP) only on the LAN interface
# and only from the listed subnets; SSH only from the management subnets.
{ config, lib, ... }:

let
  inherit (lib) types mkOption mkIf;
  cfg = config.services.housify.firewall;
  edge = config.services.housify;
  ai = config.services.housify-ai;
  soap = config.services.housify-soap;

  isV6 = lib.hasInfix ":";
  # One rule per address family: nftables sets cannot mix ip and ip6.
  rule =
    sources: match:
    let
      v4 = lib.filter (s: !isV6 s) sources;
      v6 = lib.filter isV6 sources;
      set = list: "{ ${lib.concatStringsSep ", " list} }";
    in
    lib.optional (v4 != [ ]) ''iifname "${cfg.lanInterface}" ip saddr ${set v4} ${match} accept''
    ++ lib.optional (v6 != [ ]) ''iifname "${cfg.lanInterface}" ip6 saddr ${set v6} ${match} accept'';
  ports = list: "{ ${lib.concatMapStringsSep ", " toString (lib.unique list)} }";

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

  soapRemote = soap.enable && soap.allowedSources != [ ];
  wideOpen = s: lib.elem s [ "0.0.0.0/0" "::/0" ];
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
      type = types.str;
      example = "enp2s0";
      description = "Interface on the pfSense-side LAN; the only one internal ports are open on.";
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
        (PostgreSQL, Redis, NFS on the edge; the AI API when bound to the LAN)
        are added automatically.
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
        assertion = internalPorts == [ ] || cfg.internalSubnets != [ ];
        message = "services.housify.firewall.internalSubnets is empty but internal ports (${ports internalPorts}) are served on the LAN.";
      }
    ];

    networking.nftables.enable = true;
    networking.firewall = {
      enable = true;
      allowedTCPPorts = lib.optionals cfg.publicWeb [
        80
        443
      ];
      allowedUDPPorts = lib.optionals cfg.publicWeb [ 443 ];
      extraInputRules = lib.concatStringsSep "\n" (
        rule cfg.managementSubnets "tcp dport 22"
        ++ lib.optionals (internalPorts != [ ]) (rule cfg.internalSubnets "tcp dport ${ports internalPorts}")
        ++ lib.optionals soapRemote (rule soap.allowedSources "tcp dport ${toString soap.port}")
      );
    };
    services.openssh.openFirewall = lib.mkDefault false;
  };
}
