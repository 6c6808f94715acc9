# services.housify-api: N instances of the public API (Litestar on uvicorn)
# behind nginx, with a migration unit that runs before them.
# Modelled on nixpkgs' nixos/modules/services/web-apps/immich.nix.
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
    ;
  hlib = import ./lib.nix { inherit lib pkgs; };
  cfg = config.services.housify-api;
  storage = hlib.storageSettings cfg.storage cfg.storageDir;
  directoryStore = hlib.directoryStore cfg.storage cfg.storageDir;
  exe = lib.getExe' cfg.package "housify-api";

  instanceNames = lib.genList (i: "housify-api-${toString i}") cfg.instances;
  ports = lib.genList (i: cfg.basePort + i) cfg.instances;

  secrets = hlib.credentials ({
    HOUSIFY_JWT_PRIVATE_KEY_FILE = cfg.jwt.privateKeyFile;
    HOUSIFY_JWT_PUBLIC_KEY_FILE = cfg.jwt.publicKeyFile;
    HOUSIFY_JWT_PREVIOUS_PUBLIC_KEYS_FILE = cfg.jwt.previousPublicKeysFile;
    HOUSIFY_SMTP_PASSWORD_FILE = cfg.smtp.passwordFile;
    HOUSIFY_SUPERUSER_PASSWORD_FILE = cfg.superuser.passwordFile;
    HOUSIFY_REDIS_URL_FILE = cfg.redis.urlFile;
    PGPASSFILE = cfg.database.passFile;
    HOUSIFY_BTCPAY_API_KEY_FILE = if cfg.btcpay.enable then cfg.btcpay.apiKeyFile else null;
    HOUSIFY_BTCPAY_WEBHOOK_SECRET_FILE = if cfg.btcpay.enable then cfg.btcpay.webhookSecretFile else null;
    HOUSIFY_MEDIA_URL_SECRET_FILE = cfg.mediaUrlSecretFile;
    HOUSIFY_AI_API_TOKEN_FILE = cfg.aiApiTokenFile;
  }
  // storage.secrets);

  environment =
    hlib.toEnvironment {
      HOUSIFY_DATABASE_URL = cfg.database.url;
      HOUSIFY_REDIS_URL = cfg.redis.url;
      HOUSIFY_REDIS_PREFIX = cfg.redis.prefix;
      HOUSIFY_DATA_DIR = "/var/lib/housify";
      HOUSIFY_MEDIA_ACCEL_REDIRECT_PREFIX = cfg.accelRedirectPrefix;
      # presigned picture URLs go out through the edge's public /media/s3/ location (render-nginx.nix)
      HOUSIFY_MEDIA_S3_URL_PREFIX = if cfg.storage.backend == "s3" then "/media/s3/" else null;
      HOUSIFY_SMTP_HOST = cfg.smtp.host;
      HOUSIFY_SMTP_PORT = cfg.smtp.port;
      HOUSIFY_SMTP_USERNAME = cfg.smtp.username;
      HOUSIFY_SMTP_FROM = cfg.smtp.from;
      HOUSIFY_SMTP_STARTTLS = cfg.smtp.startTls;
      HOUSIFY_SUPERUSER_EMAIL = cfg.superuser.email;
      HOUSIFY_AI_URL = cfg.aiUrl;
      HOUSIFY_SOAP_WSDL_URL = cfg.soapWsdlUrl;
      HOUSIFY_CORS_ORIGINS = cfg.corsOrigins;
      HOUSIFY_PUBLIC_URL = cfg.publicUrl;
      HOUSIFY_BTCPAY_URL = if cfg.btcpay.enable then cfg.btcpay.url else null;
      HOUSIFY_BTCPAY_STORE_ID = if cfg.btcpay.enable then cfg.btcpay.storeId else null;
      PICCOLO_CONF = "housify_api.piccolo_conf";
    }
    // storage.environment
    // secrets.environment
    // cfg.environment;

  serviceConfig = hlib.hardening // {
    User = cfg.user;
    Group = cfg.group;
    StateDirectory = "housify";
    StateDirectoryMode = "0750";
    LoadCredential = secrets.loadCredential;
    WorkingDirectory = "/var/lib/housify";
  }
  // directoryStore.serviceConfig;

  # The edge host's Redis (services.housify): socket access via its group.
  localRedis = config.services.redis.servers.housify.enable or false;
in
{
  options.services.housify-api = {
    enable = mkEnableOption "the Housify public API (Litestar REST and WebSocket)";

    package = mkPackageOption pkgs "housify-api" { };

    instances = mkOption {
      type = types.ints.between 1 64;
      default = 2;
      description = ''
        Number of API processes; instance i listens on `basePort + i` and
        nginx balances over them (`least_conn`).
      '';
    };

    listenAddress = mkOption {
      type = types.str;
      default = "127.0.0.1";
      description = "Address the API instances bind to (nginx is the public front).";
    };

    basePort = mkOption {
      type = types.port;
      default = 8100;
      description = "Port of the first instance; the others follow consecutively.";
    };

    ports = mkOption {
      type = types.listOf types.port;
      readOnly = true;
      default = ports;
      defaultText = lib.literalExpression "genList (i: basePort + i) instances";
      description = "The instances' ports (read-only, for nginx upstreams and firewalls).";
    };

    user = mkOption {
      type = types.str;
      default = "housify";
      description = "System user of the API units; owns the image storage.";
    };

    group = mkOption {
      type = types.str;
      default = "housify";
      description = "Group of the image storage; the AI workers and nginx join it.";
    };

    storageDir = mkOption {
      type = types.str;
      default = "/var/lib/housify/storage";
      description = ''
        `HOUSIFY_STORAGE_DIR` of the directory store (`storage.backend =
        "directory"`): `images/<uuid>.png`, `thumbs/<uuid>.webp`. An AI host
        mounts it over NFS.
      '';
    };

    storage = hlib.storageOptions;

    aiApiTokenFile = hlib.mkSecretOption ''
      `HOUSIFY_AI_API_TOKEN_FILE`: the bearer token the API sends to the AI
      server's internal API (the same file as `services.housify-ai.apiTokenFile`
      on the AI hosts; docs/security.md). Null: no token is sent.
    '';

    mediaUrlSecretFile = hlib.mkSecretOption ''
      `HOUSIFY_MEDIA_URL_SECRET_FILE`: the secret of the signed picture URLs
      (URL-safe characters, e.g. `openssl rand -hex 32`; docs/storage.md,
      "Signed URLs"). Put the same file on every API host and on the edge:
      with it, the edge's nginx checks the URLs of a directory store itself
      (secure_link) and sends the bytes without the API. Null: the API derives
      the secret from the JWT private key and checks the URLs itself.
    '';

    accelRedirectPrefix = mkOption {
      type = types.str;
      default = if cfg.storage.backend == "s3" then "/_media_s3/" else "/_media/";
      defaultText = lib.literalExpression ''if storage.backend == "s3" then "/_media_s3/" else "/_media/"'';
      description = ''
        `HOUSIFY_MEDIA_ACCEL_REDIRECT_PREFIX`: the nginx `internal` location
        (nixos/lib/render-nginx.nix) the API hands picture downloads to after
        its permission checks: `/_media/` aliases `storageDir`, `/_media_s3/`
        proxies a short-lived presigned GET to the S3 endpoint.
      '';
    };

    publicUrl = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "https://housify.example.com";
      description = "`HOUSIFY_PUBLIC_URL`: the base of links in emails (verification, password reset).";
    };

    database = {
      url = mkOption {
        type = types.str;
        default = "postgresql:///housify?host=/run/postgresql&user=housify";
        description = ''
          `HOUSIFY_DATABASE_URL` (asyncpg DSN, no password: use `passFile`).
          The default uses the local server's socket with peer authentication.
        '';
      };
      passFile = hlib.mkSecretOption "A libpq `.pgpass` file for a remote database (`PGPASSFILE`).";
    };

    redis = hlib.redisOptions "unix:///run/redis-housify/redis.sock";

    jwt = {
      privateKeyFile = hlib.mkSecretOption ''
        PEM private key (ECDSA P-521, ES512) signing access and refresh tokens
        (`HOUSIFY_JWT_PRIVATE_KEY_FILE`). Create with `housify-api keys generate`.
      '';
      publicKeyFile = hlib.mkSecretOption ''
        PEM public key(s) published at `/.well-known/jwks.json`
        (`HOUSIFY_JWT_PUBLIC_KEY_FILE`), the pair of `privateKeyFile`.
      '';
      previousPublicKeysFile = hlib.mkSecretOption ''
        PEM public keys of retired signing keys, still accepted and published
        until the tokens they signed expire (`HOUSIFY_JWT_PREVIOUS_PUBLIC_KEYS_FILE`);
        see docs/deployment.md, "Rotating the JWT key".
      '';
    };

    smtp = {
      host = mkOption {
        type = types.str;
        default = "127.0.0.1";
        description = "`HOUSIFY_SMTP_HOST`: server for login and account emails.";
      };
      port = mkOption {
        type = types.port;
        default = 25;
        description = "`HOUSIFY_SMTP_PORT`.";
      };
      username = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "`HOUSIFY_SMTP_USERNAME`; null for an unauthenticated local relay.";
      };
      passwordFile = hlib.mkSecretOption "SMTP password (`HOUSIFY_SMTP_PASSWORD_FILE`).";
      startTls = mkOption {
        type = types.bool;
        default = false;
        description = "`HOUSIFY_SMTP_STARTTLS`: upgrade the SMTP connection with STARTTLS.";
      };
      from = mkOption {
        type = types.str;
        example = "Housify <no-reply@housify.example.com>";
        description = "`HOUSIFY_SMTP_FROM`: sender of account emails.";
      };
    };

    superuser = {
      email = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "`HOUSIFY_SUPERUSER_EMAIL`: admin account bootstrapped at start (with `passwordFile`).";
      };
      passwordFile = hlib.mkSecretOption "Password of the bootstrapped admin (`HOUSIFY_SUPERUSER_PASSWORD_FILE`).";
    };

    aiUrl = mkOption {
      type = types.str;
      default = "http://127.0.0.1:8280";
      description = "`HOUSIFY_AI_URL`: the AI servers' internal API (short calls), normally nginx's internal AI upstream.";
    };

    soapWsdlUrl = mkOption {
      type = types.str;
      default = "http://127.0.0.1:8300/soap?wsdl";
      description = "`HOUSIFY_SOAP_WSDL_URL`: WSDL of housify-soap.";
    };

    corsOrigins = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "https://app.housify.example.com" ];
      description = "`HOUSIFY_CORS_ORIGINS`: browser origins allowed to call the API.";
    };

    btcpay = {
      enable = mkEnableOption ''
        payments through a BTCPay Server store (Greenfield API; docs/billing.md). Off: paid
        levels are granted by an admin only, and the web app says so'';
      url = mkOption {
        type = types.str;
        default = "";
        example = "https://pay.example.com";
        description = ''
          `HOUSIFY_BTCPAY_URL`: the BTCPay Server's base URL, e.g. the one nix-bitcoin's
          `services.btcpayserver` serves behind nginx.
        '';
      };
      storeId = mkOption {
        type = types.str;
        default = "";
        example = "9CiNzKoANXxmk5ayZngSXrHTiVvvgCrwrpFQd4m2K776";
        description = "`HOUSIFY_BTCPAY_STORE_ID`: the store whose invoices Housify creates.";
      };
      apiKeyFile = hlib.mkSecretOption ''
        Greenfield API key with `btcpay.store.cancreateinvoice` and `btcpay.store.canviewinvoices`
        on the store (`HOUSIFY_BTCPAY_API_KEY_FILE`).'';
      webhookSecretFile = hlib.mkSecretOption ''
        Secret of the store webhook pointing at `<publicUrl>/billing/btcpay/webhook`
        (`HOUSIFY_BTCPAY_WEBHOOK_SECRET_FILE`; it keys the `BTCPay-Sig` HMAC).'';
    };

    environment = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = {
        HOUSIFY_ACCESS_TOKEN_TTL_SECONDS = "300";
      };
      description = ''
        Further `HOUSIFY_*` settings (see docs/). Never put secrets here: the
        unit environment is world-readable in the Nix store; use `*_FILE`
        options.
      '';
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.jwt.privateKeyFile != null && cfg.jwt.publicKeyFile != null;
        message = "services.housify-api.jwt.privateKeyFile and publicKeyFile must be set (create them with `housify-api keys generate`).";
      }
      {
        assertion = (cfg.superuser.email == null) == (cfg.superuser.passwordFile == null);
        message = "services.housify-api.superuser.email and superuser.passwordFile must be set together.";
      }
      {
        assertion = cfg.redis.url != null || cfg.redis.urlFile != null;
        message = "services.housify-api.redis: set url or urlFile.";
      }
      {
        assertion = (cfg.smtp.username == null) == (cfg.smtp.passwordFile == null);
        message = "services.housify-api.smtp.username and smtp.passwordFile must be set together.";
      }
      {
        assertion =
          !cfg.btcpay.enable
          || (
            cfg.btcpay.url != ""
            && cfg.btcpay.storeId != ""
            && cfg.btcpay.apiKeyFile != null
            && cfg.btcpay.webhookSecretFile != null
          );
        message = "services.housify-api.btcpay: enable needs url, storeId, apiKeyFile and webhookSecretFile.";
      }
      {
        assertion = cfg.basePort + cfg.instances - 1 <= 65535;
        message = "services.housify-api: basePort + instances - 1 exceeds 65535.";
      }
      {
        assertion = !lib.any (lib.hasSuffix "_PASSWORD") (lib.attrNames cfg.environment);
        message = "services.housify-api.environment must not carry passwords; use the *_FILE options.";
      }
    ]
    ++ hlib.storageAssertions "services.housify-api" cfg.storage;

    # Created only under their default names; custom ones are the operator's.
    users.users = mkIf (cfg.user == "housify") {
      housify = {
        isSystemUser = true;
        group = cfg.group;
        extraGroups = lib.optional localRedis "redis-housify";
      };
    };
    users.groups = mkIf (cfg.group == "housify") { housify = { }; };

    # Shared with the AI workers (group write) and nginx (group read).
    systemd.tmpfiles.settings."10-housify-storage" = mkIf (cfg.storage.backend == "directory") {
      ${cfg.storageDir}.d = {
        user = cfg.user;
        group = cfg.group;
        mode = "2770";
      };
    };

    systemd.services =
      {
        housify-api-migrate = hlib.migrationUnit {
          description = "Housify API database migrations";
          inherit exe environment serviceConfig;
          databaseUrl = cfg.database.url;
        };
      }
      // lib.listToAttrs (
        lib.zipListsWith (name: port: {
          inherit name;
          value = {
            description = "Housify API instance on port ${toString port}";
            wantedBy = [ "multi-user.target" ];
            after = [
              "housify-api-migrate.service"
              "network-online.target"
            ]
            ++ lib.optional localRedis "redis-housify.service";
            wants = [ "network-online.target" ];
            requires = [ "housify-api-migrate.service" ];
            inherit (directoryStore) unitConfig;
            environment = environment // {
              # A stable name in the job-results consumer group: after a
              # restart the instance owns its pending results again.
              HOUSIFY_MEDIA_CONSUMER_NAME = "${config.networking.hostName}-${name}";
            };
            serviceConfig = serviceConfig // {
              Type = "simple";
              ExecStart = "${exe} serve --host ${cfg.listenAddress} --port ${toString port}";
              Restart = "on-failure";
              RestartSec = 2;
            };
          };
        }) instanceNames ports
      );
  };
}
