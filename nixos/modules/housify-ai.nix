# services.housify-ai: queue workers (diffusers image jobs) and the internal
# API (prompt assistant, short calls) of housify-ai; on GPU hosts also the
# NVIDIA driver and hardware.graphics. CUDA comes with the package itself (the
# lock's torch wheel and its nvidia-* wheels, nixos/packages/python.nix), so this
# module writes no nixpkgs.config: nothing is rebuilt for CUDA, and a host that
# passes its own read-only pkgs works unchanged.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib)
    types
    mkOption
    mkEnableOption
    mkPackageOption
    mkIf
    mkMerge
    mkDefault
    ;
  hlib = import ./lib.nix { inherit lib pkgs; };
  cfg = config.services.housify-ai;
  storage = hlib.storageSettings cfg.storage cfg.storageDir;
  directoryStore = hlib.directoryStore cfg.storage cfg.storageDir;
  # A mounted storage directory (the edge's NFS export) belongs to the mount:
  # no tmpfiles rule may chown it (root_squash refuses root's chown).
  storageIsMount = config.fileSystems ? ${cfg.storageDir};
  exe = lib.getExe' cfg.package "housify-ai";
  stateDir = "/var/lib/housify-ai";
  # A Redis URL given in the clear (not urlFile) naming a host that is not this machine.
  redisHost = if cfg.redis.url == null then null else builtins.match "rediss?://([^/@]*@)?([^/:?]+).*" cfg.redis.url;
  remoteRedis =
    redisHost != null
    && !(lib.elem (lib.elemAt redisHost 1) [
      "localhost"
      "127.0.0.1"
      "[::1]"
    ]);
  # A TCP host in the URL that is not this machine (postgresql://user@host:port/db).
  dbHost = builtins.match "postgres(ql)?://([^/@]*@)?([^/:?]+).*" cfg.database.url;
  remoteDatabase =
    dbHost != null
    && !(lib.elem (lib.elemAt dbHost 2) [
      "localhost"
      "127.0.0.1"
      "[::1]"
    ]);
  # The edge host's Redis (services.housify): socket access via its group.
  localRedis = config.services.redis.servers.housify.enable or false;

  secrets = hlib.credentials (
    {
      HOUSIFY_REDIS_URL_FILE = cfg.redis.urlFile;
      PGPASSFILE = cfg.database.passFile;
      HOUSIFY_AI_API_TOKEN_FILE = cfg.apiTokenFile;
    }
    // storage.secrets
  );

  environment =
    hlib.toEnvironment {
      HOUSIFY_DATABASE_URL = cfg.database.url;
      HOUSIFY_REDIS_URL = cfg.redis.url;
      HOUSIFY_REDIS_PREFIX = cfg.redis.prefix;
      HOUSIFY_DATA_DIR = stateDir;
      HOUSIFY_AI_DEVICE = cfg.device;
      HOUSIFY_AI_DIFFUSION_MODEL = cfg.diffusionModel;
      HOUSIFY_AI_LLM_MODEL =
        if cfg.llmModel != null then
          cfg.llmModel
        else if cfg.models.buildTiny then
          "${stateDir}/models/tiny-llama.gguf"
        else
          null;
      PICCOLO_CONF = "housify_ai.piccolo_conf";
      # Models are local folders; never reach for a hub at run time.
      HF_HUB_OFFLINE = "1";
      TRANSFORMERS_OFFLINE = "1";
      HF_HOME = "${stateDir}/cache/huggingface";
    }
    // storage.environment
    // secrets.environment
    // cfg.environment;

  gpuDevices = [
    "char-nvidiactl rw"
    "char-nvidia-frontend rw"
    "char-nvidia-uvm rw"
    "char-nvidia-caps rw"
  ];

  serviceConfig = hlib.hardening // {
    User = cfg.user;
    Group = cfg.group;
    StateDirectory = "housify-ai";
    StateDirectoryMode = "0750";
    CacheDirectory = "housify-ai";
    WorkingDirectory = stateDir;
    LoadCredential = secrets.loadCredential;
    UMask = "0007"; # images are shared with the API through the group
    # CUDA needs the GPU device nodes; CPU hosts keep a private /dev.
    PrivateDevices = !cfg.gpu.enable;
    DeviceAllow = lib.optionals cfg.gpu.enable gpuDevices;
    # torch/llama.cpp use large anonymous mappings and many threads.
    LimitMEMLOCK = "infinity";
  }
  // directoryStore.serviceConfig;

  unitDeps = {
    after = [
      "network-online.target"
      "housify-ai-migrate.service"
    ]
    ++ lib.optional localRedis "redis-housify.service"
    ++ lib.optional cfg.models.buildTiny "housify-ai-models.service";
    wants = [ "network-online.target" ];
    requires = [ "housify-ai-migrate.service" ] ++ lib.optional cfg.models.buildTiny "housify-ai-models.service";
    # Workers read uploads and write results there: wait for its mount.
    inherit (directoryStore) unitConfig;
  };
in
{
  options.services.housify-ai = {
    enable = mkEnableOption "the Housify AI server (diffusers queue workers and the internal prompt API)";

    apiTokenFile = hlib.mkSecretOption ''
      `HOUSIFY_AI_API_TOKEN_FILE`: the bearer token the internal API asks of
      its callers (everything but `/health` and `/ready`); the same file as
      `services.housify-api.aiApiTokenFile` on the API hosts (docs/security.md).
      Null: the internal API relies on the firewall alone.
    '';

    package = mkPackageOption pkgs "housify-ai" {
      extraDescription = ''
        The same package on CPU and GPU hosts: the lock's torch is the CUDA build, which
        falls back to the CPU where no NVIDIA driver is loaded.
      '';
    };

    workers = mkOption {
      type = types.ints.between 0 64;
      default = 1;
      description = ''
        Number of queue worker units (`housify-ai-worker-<i>`). Each loads the
        diffusion model once; on a GPU host one worker per GPU is usual.
      '';
    };

    api = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Run the internal HTTP API (`housify-ai serve`) for the prompt assistant.";
      };
      listenAddress = mkOption {
        type = types.str;
        default = "127.0.0.1";
        example = "10.0.1.20";
        description = "Address of the internal API; a LAN address when the API runs on another host.";
      };
      port = mkOption {
        type = types.port;
        default = 8200;
        description = "Port of the internal API.";
      };
    };

    device = mkOption {
      type = types.enum [
        "auto"
        "cpu"
        "cuda"
      ];
      default = "auto";
      description = "`HOUSIFY_AI_DEVICE`: `cuda` needs `gpu.enable`; `auto` picks CUDA when present.";
    };

    diffusionModel = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/var/lib/housify-ai/models/stable-diffusion-v1-5";
      description = ''
        `HOUSIFY_AI_DIFFUSION_MODEL`: a diffusers Stable Diffusion folder
        (`model_index.json`) on local disk. null: `${stateDir}/models/tiny-sd`.
      '';
    };

    llmModel = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = ''
        `HOUSIFY_AI_LLM_MODEL`: a GGUF file for the prompt assistant.
        null: `${stateDir}/models/SmolLM2-135M-Instruct.Q4_1.gguf`
        (`housify-ai models pull`).
      '';
    };

    models.buildTiny = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Before the workers start, build tiny random-weight models into
        `${stateDir}/models` (`housify-ai models build-tiny`: `tiny-sd/`,
        `tiny-llama.gguf`, used when the model options are null); for tests
        and demos only: the pictures are noise.
      '';
    };

    user = mkOption {
      type = types.str;
      default = "housify-ai";
      description = "System user of the AI units.";
    };

    group = mkOption {
      type = types.str;
      default = config.services.housify-api.group or "housify";
      defaultText = lib.literalExpression ''"housify"'';
      description = "Primary group; must be the image storage's group (write access for results).";
    };

    storageDir = mkOption {
      type = types.str;
      default = "/var/lib/housify/storage";
      description = ''
        `HOUSIFY_STORAGE_DIR` of the directory store: the API's image storage
        (on a separate GPU host, the mount of the edge's NFS export, declared
        in `fileSystems`; the units wait for it).
      '';
    };

    storage = hlib.storageOptions;

    database = {
      url = mkOption {
        type = types.str;
        default = "postgresql:///housify_ai?host=/run/postgresql&user=housify_ai";
        example = "postgresql://housify_ai@10.0.1.10:5432/housify_ai?sslmode=verify-full&sslrootcert=/etc/housify/postgres-ca.pem";
        description = ''
          `HOUSIFY_DATABASE_URL` of the inference-run log (db `housify_ai`), without a
          password. A database on another host must be reached with
          `sslmode=verify-full` and the `sslrootcert` that signed its certificate (an
          assertion checks the URL): the edge accepts LAN clients over TLS only.
        '';
      };
      passFile = hlib.mkSecretOption "A libpq `.pgpass` file for a remote database (`PGPASSFILE`).";
    };

    redis = hlib.redisOptions "unix:///run/redis-housify/redis.sock";

    gpu = {
      enable = mkEnableOption ''
        NVIDIA GPUs: the proprietary driver (`hardware.nvidia`; the host must allow that
        unfree package, e.g. `nixpkgs.config.allowUnfreePredicate` as nixos/hosts/gpu does),
        `hardware.graphics` (the driver's libcuda in /run/opengl-driver/lib, where the
        package's CUDA wheels look) and GPU device access for the units'';
      openKernelModule = mkOption {
        type = types.bool;
        default = true;
        description = "`hardware.nvidia.open`: NVIDIA's open kernel module (Turing and newer).";
      };
    };

    environment = mkOption {
      type = types.attrsOf types.str;
      default = { };
      description = "Further `HOUSIFY_*` settings for the AI units (no secrets).";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [
        {
          assertion = cfg.device != "cuda" || cfg.gpu.enable;
          message = "services.housify-ai.device = \"cuda\" needs services.housify-ai.gpu.enable.";
        }
        {
          assertion = cfg.workers > 0 || cfg.api.enable;
          message = "services.housify-ai: nothing to run (workers = 0 and api.enable = false).";
        }
        {
          assertion = cfg.redis.url != null || cfg.redis.urlFile != null;
          message = "services.housify-ai.redis: set url or urlFile.";
        }
        {
          assertion = !remoteRedis || (lib.hasPrefix "rediss://" cfg.redis.url && lib.hasInfix "ssl_ca_certs=" cfg.redis.url);
          message = "services.housify-ai.redis.url reaches Redis on another host: use rediss://…?ssl_ca_certs=<the CA that signed its certificate> (the edge's Redis speaks TLS only on the LAN).";
        }
        {
          assertion = !remoteDatabase || (lib.hasInfix "sslmode=verify-full" cfg.database.url && lib.hasInfix "sslrootcert=" cfg.database.url);
          message = "services.housify-ai.database.url reaches PostgreSQL on another host: add ?sslmode=verify-full&sslrootcert=<the CA that signed its certificate> (the edge accepts LAN clients over TLS only).";
        }
      ]
      ++ hlib.storageAssertions "services.housify-ai" cfg.storage;

      # Created only under their default names; custom ones are the operator's.
      users.users = mkIf (cfg.user == "housify-ai") {
        housify-ai = {
          isSystemUser = true;
          group = cfg.group;
          extraGroups = lib.optional localRedis "redis-housify";
        };
      };
      users.groups = mkIf (cfg.group == "housify") { housify = { }; };

      # Without the API on this host, the AI module creates a local storage
      # directory; a mounted one (the edge's NFS export) is left to the mount.
      systemd.tmpfiles.settings."10-housify-ai" = mkIf (
        cfg.storage.backend == "directory" && !storageIsMount && !(config.services.housify-api.enable or false)
      ) {
        ${cfg.storageDir}.d = {
          user = cfg.user;
          group = cfg.group;
          mode = "2770";
        };
      };

      systemd.services = {
        housify-ai-migrate = hlib.migrationUnit {
          description = "Housify AI database migrations";
          inherit exe environment serviceConfig;
          databaseUrl = cfg.database.url;
        };
      }
      // lib.optionalAttrs cfg.models.buildTiny {
        housify-ai-models = {
          description = "Housify AI: build tiny test models";
          inherit environment;
          serviceConfig = serviceConfig // {
            Type = "oneshot";
            RemainAfterExit = true;
            ExecStart = "${exe} models build-tiny ${stateDir}/models";
          };
        };
      }
      // lib.optionalAttrs cfg.api.enable {
        housify-ai-api = unitDeps // {
          description = "Housify AI internal API";
          wantedBy = [ "multi-user.target" ];
          inherit environment;
          serviceConfig = serviceConfig // {
            ExecStart = "${exe} serve --host ${cfg.api.listenAddress} --port ${toString cfg.api.port}";
            Restart = "on-failure";
            RestartSec = 2;
          };
        };
      }
      // lib.listToAttrs (
        lib.genList (i: {
          name = "housify-ai-worker-${toString i}";
          value = unitDeps // {
            description = "Housify AI queue worker ${toString i}";
            wantedBy = [ "multi-user.target" ];
            environment = environment // {
              # A stable consumer name: after a restart the worker owns its
              # pending stream entries again instead of waiting for XAUTOCLAIM.
              HOUSIFY_AI_CONSUMER = "${config.networking.hostName}-worker-${toString i}";
            };
            serviceConfig = serviceConfig // {
              ExecStart = "${exe} worker";
              Restart = "on-failure";
              RestartSec = 5;
              # A job in flight is re-queued by the visibility timeout; give
              # the worker time to finish its current step.
              TimeoutStopSec = 60;
            };
          };
        }) cfg.workers
      );
    }

    (mkIf cfg.gpu.enable {
      hardware.graphics.enable = true;
      services.xserver.videoDrivers = [ "nvidia" ];
      hardware.nvidia = {
        open = cfg.gpu.openKernelModule;
        package = mkDefault config.boot.kernelPackages.nvidiaPackages.stable;
        nvidiaPersistenced = mkDefault true;
      };
    })
  ]);
}
