# services.housify.garage: a Garage node (nixpkgs' services.garage, S3 API)
# as Housify's image store, replicated across the hosts that run one. Every
# secret reaches the daemon and the setup unit as a systemd credential
# (LoadCredential=): the RPC secret shared by the nodes, this node's admin
# token, and, on the managing node, the S3 key Housify uses.
#
# Cluster bootstrap (docs/deployment.md, "Object storage"): each node stages
# its own role in the layout (zone = its host name); the node with
# `manageLayout` waits (bounded) for `expectedNodes`, applies the layout, then
# creates the bucket and imports the key and grants it read/write. A timer
# re-runs the setup, so nodes that join later are applied too.
#
# The setup runs from its timer only (15 s after each start of the timer, then
# every 10 minutes), never as part of `nixos-rebuild switch`: on a first deploy
# it may wait up to 10 minutes for the other nodes, which a switch must not.
# Operators' `garage` commands (as root) get the RPC secret the same way the
# daemon does (GARAGE_RPC_SECRET_FILE), through a `garage` wrapper that takes
# precedence over the plain package nixpkgs' module installs.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib) types mkOption mkIf;
  hlib = import ./lib.nix { inherit lib pkgs; };
  cfg = config.services.housify.garage;
  stateDir = "/var/lib/garage";
  adminPort = 3903;
in
{
  options.services.housify.garage = {
    enable = lib.mkEnableOption "a Garage node on this host as Housify's S3 image store";

    package = lib.mkPackageOption pkgs "garage_2" {
      extraDescription = "Garage >= 2.0: the setup unit speaks admin API v2.";
    };

    rpcPublicAddress = mkOption {
      type = types.strMatching ".+:[0-9]+";
      example = "10.0.1.10:3901";
      description = "`rpc_public_addr`: this node's LAN address and RPC port, as the other nodes reach it.";
    };

    bootstrapPeers = mkOption {
      type = types.listOf (types.strMatching "[0-9a-f]{64}@.+:[0-9]+");
      default = [ ];
      example = [ "563e1ac825ee3323aa441e72c26d1030d6d4414aeb3dd25287c531e7fc2bc95d@10.0.1.20:3901" ];
      description = ''
        `bootstrap_peers`: the other nodes as `<node id>@<address>:3901`
        (`garage node id` on each node prints its id after the first start).
      '';
    };

    replicationFactor = mkOption {
      type = types.ints.positive;
      default = 3;
      description = ''
        `replication_factor`: copies of every object, on different nodes (and
        zones). Must be the same on every node and at most the number of
        storage nodes; 2 tolerates one node down for reads, 3 for writes too.
      '';
    };

    capacityGB = mkOption {
      type = types.nullOr types.ints.positive;
      default = 100;
      description = "Disk this node offers (GB, 10^9 bytes) in the layout; null makes it a gateway node (no data).";
    };

    zone = mkOption {
      type = types.str;
      default = config.networking.hostName;
      defaultText = lib.literalExpression "config.networking.hostName";
      description = "The node's zone: copies are spread over zones first.";
    };

    s3ListenAddress = mkOption {
      type = types.str;
      default = "127.0.0.1:3900";
      example = "0.0.0.0:3900";
      description = ''
        `s3_api.api_bind_addr`. Loopback when every client runs on a host with
        its own Garage node; a LAN address (or 0.0.0.0, the firewall admits
        only `internalSubnets`) when hosts without a node use this one.
      '';
    };

    region = mkOption {
      type = types.str;
      default = "garage";
      description = "`s3_api.s3_region`: the region clients sign for (`HOUSIFY_S3_REGION`).";
    };

    rpcSecretFile = hlib.mkSecretOption "The cluster's RPC secret (`openssl rand -hex 32`), the same file content on every node.";
    adminTokenFile = hlib.mkSecretOption "This node's admin API token (`openssl rand -base64 32`), for the setup unit.";

    manageLayout = mkOption {
      type = types.bool;
      default = false;
      description = "This node applies the cluster layout and creates the bucket and key (exactly one node).";
    };

    expectedNodes = mkOption {
      type = types.ints.positive;
      default = 1;
      description = "Nodes the managing node waits for (at most 10 minutes) before it applies the layout.";
    };

    bucket = mkOption {
      type = types.str;
      default = config.services.housify-api.storage.s3.bucket or "housify";
      defaultText = lib.literalExpression "config.services.housify-api.storage.s3.bucket";
      description = "The bucket (global alias) the managing node creates.";
    };

    accessKeyIdFile = hlib.mkSecretOption ''
      The S3 access key id Housify uses, imported by the managing node
      (Garage's format: `GK` + 24 hex digits; `echo GK$(openssl rand -hex 12)`).
    '';
    secretAccessKeyFile = hlib.mkSecretOption "Its secret key (64 hex digits; `openssl rand -hex 32`).";
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.rpcSecretFile != null && cfg.adminTokenFile != null;
        message = "services.housify.garage: set rpcSecretFile and adminTokenFile (systemd credentials).";
      }
      {
        assertion = !cfg.manageLayout || (cfg.accessKeyIdFile != null && cfg.secretAccessKeyFile != null);
        message = "services.housify.garage.manageLayout: set accessKeyIdFile and secretAccessKeyFile (the key Housify uses).";
      }
      {
        assertion = !cfg.manageLayout || cfg.replicationFactor <= cfg.expectedNodes;
        message = "services.housify.garage.replicationFactor (${toString cfg.replicationFactor}) exceeds expectedNodes (${toString cfg.expectedNodes}): Garage could not place every copy.";
      }
    ];

    services.garage = {
      enable = true;
      inherit (cfg) package;
      settings = {
        metadata_dir = "${stateDir}/meta";
        data_dir = "${stateDir}/data";
        db_engine = "lmdb";
        replication_factor = cfg.replicationFactor;
        rpc_bind_addr = "0.0.0.0:3901";
        rpc_public_addr = cfg.rpcPublicAddress;
        bootstrap_peers = cfg.bootstrapPeers;
        s3_api = {
          api_bind_addr = cfg.s3ListenAddress;
          s3_region = cfg.region;
        };
        admin.api_bind_addr = "127.0.0.1:${toString adminPort}";
      };
      # Paths of the credentials below (%d = the unit's credentials directory).
      extraEnvironment = {
        GARAGE_RPC_SECRET_FILE = "%d/rpc-secret";
        GARAGE_ADMIN_TOKEN_FILE = "%d/admin-token";
      };
    };
    systemd.services.garage.serviceConfig.LoadCredential = [
      "rpc-secret:${cfg.rpcSecretFile}"
      "admin-token:${cfg.adminTokenFile}"
    ];

    # `garage status`, `garage layout show` … for root: the daemon's config (/etc/garage.toml)
    # names no secret (it reaches the daemon as a credential), so the CLI gets the file here.
    environment.systemPackages = [
      (lib.hiPrio (
        pkgs.writeShellScriptBin "garage" ''
          export GARAGE_RPC_SECRET_FILE=''${GARAGE_RPC_SECRET_FILE:-${cfg.rpcSecretFile}}
          exec ${lib.getExe cfg.package} "$@"
        ''
      ))
    ];

    systemd.timers.housify-garage-setup = {
      description = "Housify: run the Garage setup soon after each start, then every 10 minutes";
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnActiveSec = "15s";
        OnUnitActiveSec = "10min";
      };
    };
    systemd.services.housify-garage-setup = {
      description = "Housify: this node's Garage layout role; bucket and key on the managing node";
      after = [ "garage.service" ];
      requires = [ "garage.service" ];
      # No wantedBy: only the timer starts it, so a switch never waits for it.
      environment = {
        GARAGE_ADMIN_URL = "http://127.0.0.1:${toString adminPort}";
        GARAGE_ADMIN_TOKEN_FILE = "%d/admin-token";
        GARAGE_ZONE = cfg.zone;
        GARAGE_CAPACITY = if cfg.capacityGB == null then "" else "${toString cfg.capacityGB}000000000";
        GARAGE_MANAGE = if cfg.manageLayout then "1" else "0";
        GARAGE_EXPECTED_NODES = toString cfg.expectedNodes;
        GARAGE_BUCKET = cfg.bucket;
        GARAGE_KEY_NAME = "housify";
        GARAGE_KEY_ID_FILE = "%d/s3-access-key-id";
        GARAGE_SECRET_KEY_FILE = "%d/s3-secret-access-key";
        GARAGE_WAIT_SECONDS = "600";
      };
      serviceConfig = hlib.hardening // {
        Type = "oneshot";
        DynamicUser = true;
        ExecStart = "${pkgs.python3.interpreter} ${./garage-setup.py}";
        LoadCredential = [
          "admin-token:${cfg.adminTokenFile}"
        ]
        ++ lib.optionals cfg.manageLayout [
          "s3-access-key-id:${cfg.accessKeyIdFile}"
          "s3-secret-access-key:${cfg.secretAccessKeyFile}"
        ];
        TimeoutStartSec = "25min";
      };
    };

    services.housify.firewall.internalTCPPorts = [ 3901 ] ++ lib.optional (!lib.hasPrefix "127." cfg.s3ListenAddress) 3900;
  };
}
