# Helpers shared by the Housify NixOS modules (not a module itself).
{ lib, pkgs ? null }:

let
  inherit (lib) types mkOption;
in
rec {
  /**
    An absolute path outside the Nix store: where secrets live. A path
    literal such as ./jwt.pem is rejected, because it would be copied into
    the world-readable store.
  */
  secretPath = types.pathWith {
    inStore = false;
    absolute = true;
  };

  mkSecretOption =
    description:
    mkOption {
      type = types.nullOr secretPath;
      default = null;
      example = "/run/secrets/housify/secret";
      description = ''
        ${description}
        The file is read at run time through a systemd credential
        (`LoadCredential=`), so it can be owned by root with mode 0400 and
        never enters the Nix store.
      '';
    };

  /**
    systemd credentials for secret files.
    Input: { HOUSIFY_SMTP_PASSWORD_FILE = "/run/secrets/smtp"; PGPASSFILE = null; }
    Output: { loadCredential = [ "smtp-password:/run/secrets/smtp" ];
              environment = { HOUSIFY_SMTP_PASSWORD_FILE = "%d/smtp-password"; }; }
    Unset (null) entries are dropped. The application reads
    HOUSIFY_<NAME>_FILE (housify_common.settings), libpq/asyncpg PGPASSFILE.
  */
  credentials =
    files:
    let
      set = lib.filterAttrs (_: path: path != null) files;
      id =
        var:
        lib.toLower (
          lib.replaceStrings [ "HOUSIFY_" "_FILE" "_" ] [ "" "" "-" ] var
        );
    in
    {
      loadCredential = lib.mapAttrsToList (var: path: "${id var}:${path}") set;
      environment = lib.mapAttrs (var: _: "%d/${id var}") set;
    };

  /**
    Environment values as strings; nulls dropped, lists comma-joined (the
    settings loader splits list fields on commas), booleans "true"/"false".
  */
  toEnvironment =
    attrs:
    lib.mapAttrs (
      _: value:
      if lib.isList value then
        lib.concatStringsSep "," value
      else if lib.isBool value then
        lib.boolToString value
      else
        toString value
    ) (lib.filterAttrs (_: value: value != null) attrs);

  /**
    systemd sandboxing applied to every Housify unit (see systemd.exec(5)).
    Units add User=/DynamicUser=, StateDirectory= and ReadWritePaths=.
  */
  hardening = {
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    PrivateDevices = true;
    PrivateMounts = true;
    NoNewPrivileges = true;
    CapabilityBoundingSet = "";
    AmbientCapabilities = "";
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    ProtectProc = "invisible";
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    LockPersonality = true;
    RemoveIPC = true;
    SystemCallArchitectures = "native";
    SystemCallFilter = [
      "@system-service"
      "~@privileged"
    ];
    RestrictAddressFamilies = [
      "AF_UNIX"
      "AF_INET"
      "AF_INET6"
    ];
    UMask = "0027";
  };

  /**
    What a service on the local PostgreSQL orders itself after and requires:
    nixos-25.11's postgresql.target, reached once the server runs and
    postgresql-setup (ensureDatabases/ensureUsers) is done.
  */
  postgresqlUnits = [ "postgresql.target" ];

  /** Whether a database URL points at this host's PostgreSQL socket. */
  isLocalDatabase = url: lib.hasInfix "host=/run/postgresql" url;

  /**
    The oneshot unit `<exe> migrate` (piccolo migrations) that a service's
    units require and start after. It waits for a local PostgreSQL, and
    retries with exponential back-off (retry.sh: 12 tries, 2 s doubling to
    60 s, each failure logged) so a host that boots before a remote database
    answers does not leave its services down.
  */
  migrationUnit =
    {
      description,
      exe,
      databaseUrl,
      environment,
      serviceConfig,
    }:
    let
      local = isLocalDatabase databaseUrl;
    in
    {
      inherit description;
      environment = environment // {
        RETRY_ATTEMPTS = "12";
        RETRY_DELAY = "2";
        RETRY_MAX_DELAY = "60";
      };
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ] ++ lib.optionals local postgresqlUnits;
      wants = [ "network-online.target" ];
      requires = lib.optionals local postgresqlUnits;
      serviceConfig = serviceConfig // {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${pkgs.bash}/bin/bash ${./retry.sh} ${exe} migrate";
        # 12 tries with their waits (~7.5 min) plus the migrations themselves.
        TimeoutStartSec = "15min";
      };
    };

  /**
    The image store options of a service (services.housify-api.storage,
    services.housify-ai.storage): the directory store (the default; an NFS
    mount on a GPU host) or S3 (Garage, services.housify.garage).
  */
  storageOptions = {
    backend = mkOption {
      type = types.enum [
        "directory"
        "s3"
      ];
      default = "directory";
      description = ''
        `directory`: `storageDir` (`HOUSIFY_STORAGE_DIR`), shared with AI hosts
        over NFS (one GPU host). `s3`: a bucket on an S3 server
        (`HOUSIFY_STORAGE_URL=s3://<bucket>/<prefix>`), Garage on the hosts
        (services.housify.garage), the default for more than one GPU host.
      '';
    };
    s3 = {
      bucket = mkOption {
        type = types.strMatching "[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]";
        default = "housify";
        description = "The bucket (Garage: its global alias).";
      };
      prefix = mkOption {
        type = types.strMatching "([A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*)?";
        default = "";
        description = "Key prefix inside the bucket (no leading or trailing slash); empty for the whole bucket.";
      };
      endpointUrl = mkOption {
        type = types.strMatching "https?://[^/]+";
        default = "http://127.0.0.1:3900";
        example = "http://10.0.1.10:3900";
        description = ''
          `HOUSIFY_S3_ENDPOINT_URL`: the S3 server (path-style requests). nginx
          proxies picture downloads to it with `Host` set to its host:port, so
          the API and nginx must name the endpoint identically.
        '';
      };
      region = mkOption {
        type = types.str;
        default = "garage";
        description = "`HOUSIFY_S3_REGION`: the region the server signs for (Garage: `s3_region`).";
      };
      accessKeyIdFile = mkSecretOption "The S3 access key id (`HOUSIFY_S3_ACCESS_KEY_ID_FILE`).";
      secretAccessKeyFile = mkSecretOption "The S3 secret key (`HOUSIFY_S3_SECRET_ACCESS_KEY_FILE`).";
    };
  };

  /**
    Environment and credentials of a service's storage options:
    { environment = { HOUSIFY_STORAGE_DIR | HOUSIFY_STORAGE_URL, HOUSIFY_S3_* }; secrets = { ..._FILE = path; }; }
  */
  storageSettings =
    storage: storageDir:
    if storage.backend == "directory" then
      {
        environment.HOUSIFY_STORAGE_DIR = storageDir;
        secrets = { };
      }
    else
      {
        environment = {
          HOUSIFY_STORAGE_URL =
            "s3://${storage.s3.bucket}" + lib.optionalString (storage.s3.prefix != "") "/${storage.s3.prefix}";
          HOUSIFY_S3_ENDPOINT_URL = storage.s3.endpointUrl;
          HOUSIFY_S3_REGION = storage.s3.region;
        };
        secrets = {
          HOUSIFY_S3_ACCESS_KEY_ID_FILE = storage.s3.accessKeyIdFile;
          HOUSIFY_S3_SECRET_ACCESS_KEY_FILE = storage.s3.secretAccessKeyFile;
        };
      };

  /** Assertions every service with storage options makes. */
  storageAssertions = name: storage: [
    {
      assertion = storage.backend != "s3" || (storage.s3.accessKeyIdFile != null && storage.s3.secretAccessKeyFile != null);
      message = "${name}.storage.s3: set accessKeyIdFile and secretAccessKeyFile (systemd credentials) for the S3 store.";
    }
  ];

  /**
    Unit settings for the directory store: write access, and, where the
    directory is (under) a mount such as the NFS export on a GPU host, wait
    for it (RequiresMountsFor=).
  */
  directoryStore = storage: storageDir: {
    serviceConfig = lib.optionalAttrs (storage.backend == "directory") { ReadWritePaths = [ storageDir ]; };
    unitConfig = lib.optionalAttrs (storage.backend == "directory") { RequiresMountsFor = [ storageDir ]; };
  };

  /** The Redis connection options shared by the API and AI modules. */
  redisOptions = defaultUrl: {
    url = mkOption {
      type = types.nullOr types.str;
      default = defaultUrl;
      example = "redis://10.0.1.10:6379/0";
      description = ''
        `HOUSIFY_REDIS_URL` for a Redis without a password (`redis://`,
        `rediss://` or `unix://`). Set to null and use `urlFile` when the
        server requires a password.
      '';
    };
    urlFile = mkSecretOption ''
      File holding the whole Redis URL including its password, e.g.
      `redis://:secret@10.0.1.10:6379/0` (`HOUSIFY_REDIS_URL_FILE`).
      Takes precedence over `url`.
    '';
    prefix = mkOption {
      type = types.str;
      default = "housify:";
      description = "`HOUSIFY_REDIS_PREFIX`: every Redis key of this deployment starts with it.";
    };
  };
}
