# Stand-in declarations of the upstream NixOS options the Housify modules and
# hosts set, so they evaluate with nixpkgs' lib alone (no nixpkgs checkout can
# be fetched on the build machines). Names and types mirror nixpkgs 25.11
# (nixos/modules/services/web-servers/nginx, databases/postgresql.nix,
# databases/redis.nix, mail/postfix.nix, security/acme, networking/firewall*,
# hardware/video/nvidia.nix, system/boot/systemd.nix, config/users-groups.nix);
# a misspelt option name fails evaluation just as it would on a real host.
# Trees the modules only pass through (boot, fileSystems, ...) are freeform.
# Where nixpkgs itself defines a value the Housify modules also touch
# (postgresql's listen_addresses), the stand-in defines it the same way.
{ config, lib, ... }:

let
  inherit (lib) types mkOption;
  opt = type: default: mkOption { inherit type default; };
  bool = opt types.bool false;
  str = opt types.str "";
  nullStr = opt (types.nullOr types.str) null;
  lines = opt types.lines "";
  strList = opt (types.listOf types.str) [ ];
  freeform = opt (types.submodule { freeformType = types.attrsOf types.anything; }) { };
  attrsOfSub = options: opt (types.attrsOf (types.submodule { inherit options; })) { };
  pkg = opt (types.nullOr types.package) null;
  settings = opt (types.attrsOf types.anything) { };

  location = {
    proxyPass = nullStr;
    proxyWebsockets = bool;
    alias = nullStr;
    root = nullStr;
    return = nullStr;
    extraConfig = lines;
  };
  virtualHost = {
    forceSSL = bool;
    enableACME = bool;
    useACMEHost = nullStr;
    sslCertificate = opt (types.nullOr types.path) null;
    sslCertificateKey = opt (types.nullOr types.path) null;
    http2 = bool;
    http3 = bool;
    quic = bool;
    extraConfig = lines;
    listen = opt (types.listOf (
      types.submodule {
        options = {
          addr = str;
          port = opt (types.nullOr types.port) null;
          ssl = bool;
        };
      }
    )) [ ];
    locations = attrsOfSub location;
  };
  unit = {
    description = str;
    wantedBy = strList;
    requiredBy = strList;
    after = strList;
    before = strList;
    wants = strList;
    requires = strList;
    environment = opt (types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ]))) { };
    path = opt (types.listOf (types.either types.package types.str)) [ ];
    script = lines;
    preStart = lines;
    serviceConfig = opt (types.attrsOf types.anything) { };
    unitConfig = opt (types.attrsOf types.anything) { };
    startAt = opt (types.either types.str (types.listOf types.str)) [ ];
  };
in
{
  options = {
    assertions = opt (types.listOf types.unspecified) [ ];
    warnings = opt (types.listOf types.str) [ ];

    services.nginx = {
      enable = bool;
      package = pkg;
      appendHttpConfig = lines;
      recommendedTlsSettings = bool;
      recommendedOptimisation = bool;
      recommendedGzipSettings = bool;
      recommendedProxySettings = bool;
      sslProtocols = str;
      clientMaxBodySize = str;
      upstreams = attrsOfSub {
        servers = opt (types.attrsOf (types.submodule { freeformType = types.attrsOf types.anything; })) { };
        extraConfig = lines;
      };
      virtualHosts = attrsOfSub virtualHost;
    };

    services.postgresql = {
      enable = bool;
      package = pkg;
      ensureDatabases = strList;
      ensureUsers = opt (types.listOf (
        types.submodule {
          options = {
            name = str;
            ensureDBOwnership = bool;
          };
        }
      )) [ ];
      identMap = lines;
      authentication = lines;
      enableTCPIP = bool;
      # Scalars merge only when equal, as in nixpkgs (a second, different
      # definition of a key the module sets is an error).
      settings = opt (types.attrsOf (
        types.oneOf [
          types.bool
          types.int
          types.str
        ]
      )) { };
    };

    services.postgresqlBackup = {
      enable = bool;
      databases = strList;
      location = str;
      compression = opt (types.enum [ "none" "gzip" "zstd" ]) "gzip";
      startAt = opt (types.either types.str (types.listOf types.str)) "*-*-* 01:15:00";
    };

    services.redis.servers = attrsOfSub {
      enable = bool;
      port = opt types.port 6379;
      bind = nullStr;
      requirePassFile = opt (types.nullOr types.path) null;
      unixSocketPerm = opt types.int 660;
      appendOnly = bool;
      settings = settings;
    };

    services.nfs.server = {
      enable = bool;
      exports = lines;
    };

    services.postfix = {
      enable = bool;
      settings.main = opt (types.submodule { freeformType = types.attrsOf types.anything; }) { };
    };

    services.openssh = {
      enable = bool;
      openFirewall = opt types.bool true;
      settings = settings;
    };

    services.xserver.videoDrivers = strList;

    security.acme = {
      acceptTerms = bool;
      defaults.email = nullStr;
      certs = opt (types.attrsOf (
        types.submodule (
          { name, ... }:
          {
            options = {
              webroot = nullStr;
              group = str;
              reloadServices = strList;
              directory = opt types.str "/var/lib/acme/${name}";
            };
          }
        )
      )) { };
    };

    services.garage = {
      enable = bool;
      package = pkg;
      settings = opt (types.submodule { freeformType = types.attrsOf types.anything; }) { };
      extraEnvironment = opt (types.attrsOf types.str) { };
      environmentFile = opt (types.nullOr types.path) null;
    };

    networking = {
      hostName = opt types.str "nixos";
      domain = nullStr;
      nftables = {
        enable = bool;
        ruleset = lines;
      };
      firewall = {
        enable = opt types.bool true;
        allowedTCPPorts = opt (types.listOf types.port) [ ];
        allowedUDPPorts = opt (types.listOf types.port) [ ];
        allowedTCPPortRanges = opt (types.listOf (types.attrsOf types.port)) [ ];
        allowedUDPPortRanges = opt (types.listOf (types.attrsOf types.port)) [ ];
        interfaces = attrsOfSub {
          allowedTCPPorts = opt (types.listOf types.port) [ ];
          allowedUDPPorts = opt (types.listOf types.port) [ ];
        };
        extraInputRules = lines;
      };
      interfaces = freeform;
      defaultGateway = opt (types.nullOr types.anything) null;
      nameservers = strList;
      useDHCP = opt types.bool true;
    };

    hardware.graphics.enable = bool;
    hardware.nvidia = {
      open = opt (types.nullOr types.bool) null;
      package = opt types.anything null;
      nvidiaPersistenced = bool;
    };
    hardware.cpu = freeform;
    hardware.enableRedistributableFirmware = bool;

    nixpkgs = {
      config = opt (types.submodule { freeformType = types.attrsOf types.anything; }) { };
      overlays = opt (types.listOf types.unspecified) [ ];
      hostPlatform = opt types.anything null;
    };

    users.users = attrsOfSub {
      uid = opt (types.nullOr types.int) null;
      isSystemUser = bool;
      isNormalUser = bool;
      group = str;
      extraGroups = strList;
      openssh.authorizedKeys.keys = strList;
    };
    users.groups = attrsOfSub { gid = opt (types.nullOr types.int) null; };

    systemd.services = attrsOfSub unit;
    systemd.timers = attrsOfSub {
      description = str;
      wantedBy = strList;
      timerConfig = opt (types.attrsOf types.str) { };
    };
    systemd.network.links = attrsOfSub {
      matchConfig = opt (types.attrsOf types.anything) { };
      linkConfig = opt (types.attrsOf types.anything) { };
    };
    systemd.tmpfiles.settings = opt (types.attrsOf (
      types.attrsOf (
        types.attrsOf (
          types.submodule {
            options = {
              user = str;
              group = str;
              mode = str;
            };
          }
        )
      )
    )) { };

    environment.systemPackages = opt (types.listOf types.package) [ ];
    networking.hosts = opt (types.attrsOf (types.listOf types.str)) { };
    systemd.tmpfiles.rules = strList;
    virtualisation = freeform; # VM test nodes (qemu-vm.nix)

    boot = freeform;
    fileSystems = freeform;
    swapDevices = opt (types.listOf types.anything) [ ];
    system.stateVersion = str;
    time.timeZone = nullStr;
    nix = freeform;
  };

  # Definitions nixpkgs' own modules make at normal priority, so a module
  # that sets the same key without mkForce fails here as it would there.
  config = lib.mkIf config.services.postgresql.enable {
    services.postgresql.settings.listen_addresses =
      if config.services.postgresql.enableTCPIP then "*" else "localhost";
  };
}
