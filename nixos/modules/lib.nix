# Helpers shared by the Housify NixOS modules (not a module itself).
{ lib }:

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
    Units a service on the local PostgreSQL orders itself after: the server,
    and the unit that applies ensureDatabases/ensureUsers where nixpkgs has
    one (ordering after a unit that does not exist is a no-op).
  */
  postgresqlUnits = [
    "postgresql.service"
    "postgresql-setup.service"
  ];

  /** Whether a database URL points at this host's PostgreSQL socket. */
  isLocalDatabase = url: lib.hasInfix "host=/run/postgresql" url;

  /**
    The oneshot unit `<exe> migrate` (piccolo migrations) that a service's
    units require and start after; it waits for a local PostgreSQL.
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
      inherit description environment;
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ] ++ lib.optionals local postgresqlUnits;
      wants = [ "network-online.target" ];
      requires = lib.optional local "postgresql.service";
      serviceConfig = serviceConfig // {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${exe} migrate";
      };
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
