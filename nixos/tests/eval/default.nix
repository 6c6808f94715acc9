# Evaluate Housify NixOS modules (or a host) with nixpkgs' lib alone.
#
#   import ./nixos/tests/eval { lib = import <nixpkgs.lib>/lib; configuration = {...}; }
#
# Returns the parts of the evaluated configuration the tests inspect; throws
# "Failed assertions: ..." like a NixOS build when an assertion fails, and the
# module system's own error for a wrong type or an unknown option.
{
  lib,
  modules ? [ ../../modules/housify.nix ],
  configuration ? { },
  # Names of further fake packages the evaluated modules refer to.
  extraPackages ? [ ],
}:

let
  fakePackage = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
    meta.mainProgram = name;
    # nixos-25.11's nginx (QUIC built in); the others' versions are not read.
    version = if name == "nginx" then "1.28.0" else "0";
    interpreter = "/nix/store/00000000000000000000000000000000-${name}/bin/${name}";
  };
  # nixos/packages/web.nix itself, on stand-ins of nixpkgs' npm builders that keep their
  # arguments (so the module sees the web package the overlay makes, and tests can read how
  # it is built: the shared postPatch, the lock it fills).
  npmBuilder = attrs: fakePackage (attrs.pname or attrs.name) // { builderArgs = attrs; };
  housify-web = import ../../packages/web.nix {
    inherit lib;
    buildNpmPackage = npmBuilder;
    fetchNpmDeps = npmBuilder;
    nodejs_22 = fakePackage "nodejs";
  };
  pkgs =
    lib.genAttrs (
      [
        "housify-api"
        "housify-ai"
        "housify-soap"
        "nginx"
        "postgresql"
        "bash"
        "python3"
        "garage_2"
      ]
      ++ extraPackages
    ) fakePackage
    // {
      inherit housify-web;
      runCommand = name: _env: _script: fakePackage name;
      writeShellScriptBin = name: text: fakePackage name // { inherit text; };
    };

  evaluated = lib.evalModules {
    specialArgs = { inherit pkgs; };
    modules = [
      ./standins.nix
      {
        services.postgresql.package = lib.mkDefault pkgs.postgresql;
        services.nginx.package = lib.mkDefault pkgs.nginx;
      }
    ]
    ++ modules
    ++ [ configuration ];
  };
  config = evaluated.config;
  failed = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
  housifyUnits = lib.filterAttrs (name: _: lib.hasPrefix "housify" name) config.systemd.services;
in
if failed != [ ] then
  throw "Failed assertions:\n${lib.concatMapStrings (m: "- ${m}\n") failed}"
else
  {
    units = lib.mapAttrs (_: unit: {
      inherit (unit)
        after
        requires
        wants
        wantedBy
        environment
        serviceConfig
        unitConfig
        startAt
        ;
    }) housifyUnits;
    nginxText = config.services.nginx.appendHttpConfig;
    nginxUnit = config.systemd.services.nginx or { };
    ruleset = config.networking.nftables.ruleset;
    links = config.systemd.network.links;
    garage = config.services.garage;
    garageUnit = config.systemd.services.garage or { };
    postgresqlUnit = config.systemd.services.postgresql or { };
    redisUnit = config.systemd.services.redis-housify or { };
    timers = lib.filterAttrs (name: _: lib.hasPrefix "housify" name) config.systemd.timers;
    systemPackages = map (p: {
      inherit (p) name;
      text = p.text or null;
      priority = p.meta.priority or null;
    }) config.environment.systemPackages;
    inherit (config.services)
      nginx
      redis
      postfix
      postgresqlBackup
      ;
    postgresql = removeAttrs config.services.postgresql [ "package" ];
    nfs = config.services.nfs.server;
    firewall = config.networking.firewall;
    nftables = config.networking.nftables.enable;
    sshOpenFirewall = config.services.openssh.openFirewall;
    users = config.users.users;
    tmpfiles = config.systemd.tmpfiles.settings;
    gpu = {
      cudaSupport = config.nixpkgs.config.cudaSupport or false;
      allowUnfree = config.nixpkgs.config.allowUnfree or false;
      graphics = config.hardware.graphics.enable;
      videoDrivers = config.services.xserver.videoDrivers;
      nvidiaOpen = config.hardware.nvidia.open;
    };
    acme = config.security.acme;
    inherit (config) warnings;
    # What the configuration writes to nixpkgs.config (the Housify modules: nothing).
    nixpkgsConfig = lib.attrNames config.nixpkgs.config;
    web = {
      package = if config.services.housify.web.package == null then null else "${config.services.housify.web.package}";
      inherit (housify-web) builderArgs;
      npmDeps = housify-web.builderArgs.npmDeps.builderArgs;
    };
    hostName = config.networking.hostName;
  }
