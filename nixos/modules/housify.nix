# services.housify: the edge/web host of a Housify deployment. Wires the API
# instances and the SOAP service with nginx (TLS, HTTP/2, HTTP/3, load
# balancing, WebSocket, X-Accel-Redirect, the web app), PostgreSQL, Redis, a
# send-only mail server, backups, Garage and the nftables firewall. GPU hosts
# import this module too and enable only services.housify-ai, the Garage node
# and services.housify.firewall. nginx's text and the ruleset come from
# nixos/lib/render-nginx.nix and render-nftables.nix (the topology test loads
# the same functions' output).
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
    mkIf
    mkDefault
    ;
  hlib = import ./lib.nix { inherit lib pkgs; };
  cfg = config.services.housify;
  api = config.services.housify-api;
  soap = config.services.housify-soap;
  ai = config.services.housify-ai;
  fw = config.services.housify.firewall;

  databases = [
    "housify"
    "housify_ai"
    "housify_soap"
  ];
  lanExposed = cfg.lan.address != null;

  # Redis ACL users: one per service, rules rendered at build time from the one declaration
  # (housify_common.redis_acl, `housify-api redis-acl`); passwords hashed into the aclfile at start.
  redisAcl = cfg.redis.userPasswordFiles != { };
  redisAclRules = pkgs.runCommand "housify-redis-acl-rules" { } ''
    ${lib.getExe' api.package "housify-api"} redis-acl --prefix ${lib.escapeShellArg api.redis.prefix} > $out
  '';
  redisAclFile = "/run/redis-housify/users.acl";
  redisAclWriter = pkgs.writeShellScriptBin "housify-redis-aclfile" ''
    set -euo pipefail
    umask 077
    creds="$CREDENTIALS_DIRECTORY"
    hash() { printf '%s' "$(cat "$1")" | sha256sum | cut -d' ' -f1; }
    {
      if [ -s "$creds/redis-admin" ]; then
        echo "user default on #$(hash "$creds/redis-admin") ~* &* +@all"
      else
        echo "user default off resetkeys resetchannels -@all"
      fi
      while read -r user rules; do
        if [ ! -s "$creds/redis-user-$user" ]; then
          echo "no password for Redis user $user: set services.housify.redis.userPasswordFiles.\"$user\"" >&2
          exit 1
        fi
        echo "user $user on #$(hash "$creds/redis-user-$user") $rules"
      done < ${redisAclRules}
    } > ${redisAclFile}.new
    mv ${redisAclFile}.new ${redisAclFile}
  '';

  acmeWebroot = "/var/lib/acme/acme-challenge";
  certDirectory = config.security.acme.certs.${cfg.domain}.directory or "/var/lib/acme/${cfg.domain}";
  nginxText = import ../lib/render-nginx.nix {
    serverName = cfg.domain;
    apiUpstreams = map (port: "${api.listenAddress}:${toString port}") api.ports;
    tlsCertificate = if cfg.tls.acme then "${certDirectory}/fullchain.pem" else cfg.tls.certificate;
    tlsCertificateKey = if cfg.tls.acme then "${certDirectory}/key.pem" else cfg.tls.certificateKey;
    webRoot = if cfg.web.package == null then null else "${cfg.web.package}";
    mediaRoot = if api.storage.backend == "directory" then api.storageDir else null;
    s3Endpoint = if api.storage.backend == "s3" then api.storage.s3.endpointUrl else null;
    clientMaxBodySize = cfg.maxUploadSize;
    nginxVersion = config.services.nginx.package.version;
    inherit (cfg) http3;
    acmeChallengeRoot = if cfg.tls.acme then acmeWebroot else null;
    aiUpstreams = cfg.aiServers;
    aiProxyListen = "127.0.0.1:${toString cfg.aiProxyPort}";
    metricsAllow = fw.internalSubnets ++ fw.managementSubnets;
    mediaSecretInclude = if api.mediaUrlSecretFile == null then null else mediaSecretInclude;
    mediaCachePath = if api.storage.backend == "s3" then "/var/cache/nginx/housify-media" else null;
  };
  # nginx's copy of the signed picture URLs' secret: written at nginx's start from its credential into
  # its runtime directory (never the Nix store), as the `map` line render-nginx.nix includes.
  mediaSecretInclude = "/run/nginx/housify-media-secret.conf";
  mediaSecretWriter = pkgs.writeShellScriptBin "housify-media-secret" ''
    set -eu
    umask 077
    secret=$(tr -d '\n' < "$CREDENTIALS_DIRECTORY/media-url-secret")
    case "$secret" in
      "" | *[!A-Za-z0-9_.~-]*) echo "services.housify-api.mediaUrlSecretFile: empty or not URL-safe" >&2; exit 1 ;;
    esac
    printf 'map $host $housify_media_secret { default "%s"; }\n' "$secret" > ${mediaSecretInclude}
  '';
in
{
  imports = [
    ./housify-api.nix
    ./housify-ai.nix
    ./housify-soap.nix
    ./housify-firewall.nix
    ./housify-garage.nix
  ];

  options.services.housify = {
    enable = mkEnableOption "the Housify edge host (nginx, API, SOAP, PostgreSQL, Redis, mail)";

    domain = mkOption {
      type = types.str;
      example = "housify.example.com";
      description = "Public host name of the API (nginx virtual host, ACME certificate, mail origin).";
    };

    tls = {
      acme = mkOption {
        type = types.bool;
        default = true;
        description = "Obtain the certificate with ACME (Let's Encrypt, HTTP-01 on port 80).";
      };
      acmeEmail = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Contact address for the ACME account (accepting the CA's terms).";
      };
      certificate = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "PEM certificate chain when `acme` is false.";
      };
      certificateKey = mkOption {
        type = types.nullOr hlib.secretPath;
        default = null;
        description = "PEM private key when `acme` is false: outside the Nix store and readable by the `nginx` user.";
      };
    };

    web.package = mkOption {
      type = types.nullOr types.package;
      default = pkgs.housify-web or null;
      defaultText = lib.literalExpression "pkgs.housify-web (nixos/packages/web.nix) when the overlay has it";
      description = ''
        The built web app (a directory with `index.html` and hashed `assets/`,
        nixos/packages/web.nix). nginx serves its files (`/assets/` cached a
        year as immutable) and hands every other path to the API. null: the
        API alone answers `/`.
      '';
    };

    http3 = mkOption {
      type = types.bool;
      default = true;
      description = ''
        HTTP/3 over QUIC (UDP 443) with nixpkgs' default nginx, which has QUIC
        built in: one `listen ... quic reuseport` per address, Alt-Svc
        advertising h3.
      '';
    };

    maxUploadSize = mkOption {
      type = types.strMatching "[0-9]+[kKmMgG]?";
      default = "1000M";
      description = ''
        nginx `client_max_body_size`: the largest upload of any subscription
        level (Pro-Tier: 1000 MB, docs/design.md); the API enforces each
        level's own limit with 413.
      '';
    };

    aiServers = mkOption {
      type = types.listOf types.str;
      default = lib.optional (ai.enable && ai.api.enable) "127.0.0.1:${toString ai.api.port}";
      defaultText = lib.literalExpression ''[ "127.0.0.1:8200" ] when housify-ai runs here'';
      example = [
        "10.0.1.20:8200"
        "10.0.1.21:8200"
      ];
      description = "host:port of every AI server's internal API (nginx upstream `housify_ai`, least_conn).";
    };

    aiProxyPort = mkOption {
      type = types.port;
      default = 8280;
      description = ''
        Loopback port of nginx's internal AI proxy: the API's `HOUSIFY_AI_URL`
        for short calls (prompt assistant), balanced over `aiServers`.
      '';
    };

    lan.address = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "10.0.1.10";
      description = ''
        This host's LAN address. When set, PostgreSQL and Redis also listen
        on it for the AI hosts (the firewall admits `firewall.internalSubnets`).
      '';
    };

    redis.passwordFile = hlib.mkSecretOption ''
      Password Redis requires (`requirepass`), needed once Redis listens on
      the LAN. Local services then read the full URL from their
      `redis.urlFile` (`unix://:<password>@/run/redis-housify/redis.sock`).
    '';

    redis.userPasswordFiles = mkOption {
      type = types.attrsOf hlib.secretPath;
      default = { };
      example = {
        housify-api = "/run/secrets/housify/redis-api";
        housify-ai = "/run/secrets/housify/redis-ai";
      };
      description = ''
        One password file per Redis ACL user (`housify-api redis-acl` lists the users and
        their rules: each service only its keys and commands). Required when Redis
        listens on the LAN. Each service's `redis.urlFile` then names its own user:
        `unix://housify-api:<password>@/run/redis-housify/redis.sock`,
        `rediss://housify-ai:<password>@<lan.address>:6379/0?ssl_ca_certs=<CA file>`.
        The `default` user keeps `redis.passwordFile` (full access, for operators) or is off.
      '';
    };

    redis.tls = {
      certificate = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/etc/housify/redis.crt";
        description = ''
          PEM certificate Redis presents on the LAN (required with `lan.address`): Redis
          then listens on the LAN with TLS only (`tls-port` 6379, no plain TCP port; local
          services keep the socket). Its subjectAltName must hold `lan.address`; the AI
          hosts' URL is `rediss://:<password>@<lan.address>:6379/0?ssl_ca_certs=<CA file>`.
        '';
      };
      certificateKey = hlib.mkSecretOption "Its PEM private key (a credential of redis-housify.service).";
    };

    postgresql.aiPasswordFile = hlib.mkSecretOption ''
      Password of the `housify_ai` role for AI hosts connecting over the LAN
      (scram-sha-256); set by a oneshot unit after PostgreSQL starts.
    '';

    postgresql.tls = {
      certificate = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/etc/housify/postgres.crt";
        description = ''
          PEM certificate PostgreSQL presents on the LAN (required with `lan.address`):
          its subjectAltName must hold `lan.address`, because the AI hosts connect with
          `sslmode=verify-full` and check it against their `sslrootcert` (the CA that
          signed it). LAN clients without TLS find no pg_hba line (`hostssl` only).
        '';
      };
      certificateKey = hlib.mkSecretOption ''
        Its PEM private key (a systemd credential of postgresql.service, so outside the
        store and root-only is fine).
      '';
    };

    storage.nfsExport = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Export the directory store over NFSv4 to `firewall.internalSubnets`
        (one GPU host writes results there). With more GPU hosts use the S3
        store (`services.housify-api.storage.backend = "s3"`, Garage).
      '';
    };

    mail.enable = mkOption {
      type = types.bool;
      default = true;
      description = "A send-only Postfix on loopback for login and account emails (the API's SMTP server).";
    };

    backup = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Nightly `pg_dump` of the three databases (services.postgresqlBackup).";
      };
      location = mkOption {
        type = types.str;
        default = "/var/backup/postgresql";
        description = "Directory of the compressed dumps.";
      };
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.tls.acme || (cfg.tls.certificate != null && cfg.tls.certificateKey != null);
        message = "services.housify.tls: with acme = false set certificate and certificateKey.";
      }
      {
        assertion = !cfg.tls.acme || cfg.tls.acmeEmail != null;
        message = "services.housify.tls.acmeEmail is required for ACME.";
      }
      {
        assertion = cfg.aiServers != [ ];
        message = "services.housify.aiServers is empty: list the AI hosts' internal APIs (host:port).";
      }
      {
        assertion = !lanExposed || (cfg.postgresql.tls.certificate != null && cfg.postgresql.tls.certificateKey != null);
        message = "services.housify.postgresql.tls: set certificate and certificateKey when PostgreSQL listens on the LAN (lan.address is set): AI hosts connect with sslmode=verify-full.";
      }
      {
        assertion = !lanExposed || (cfg.redis.tls.certificate != null && cfg.redis.tls.certificateKey != null);
        message = "services.housify.redis.tls: set certificate and certificateKey when Redis listens on the LAN (lan.address is set): it speaks TLS only there.";
      }
      {
        assertion = !lanExposed || redisAcl;
        message = "services.housify.redis.userPasswordFiles is required when Redis listens on the LAN (lan.address is set): each service gets its own ACL user (housify-api redis-acl lists them).";
      }
      {
        assertion = !lanExposed || cfg.redis.passwordFile != null;
        message = "services.housify.redis.passwordFile is required when Redis listens on the LAN (lan.address is set).";
      }
      {
        assertion = cfg.redis.passwordFile == null || (api.redis.urlFile != null && (!ai.enable || ai.redis.urlFile != null));
        message = "Redis requires a password: set services.housify-api.redis.urlFile (and housify-ai's) to a URL that carries it.";
      }
      {
        assertion = !cfg.storage.nfsExport || lanExposed;
        message = "services.housify.storage.nfsExport needs lan.address.";
      }
      {
        assertion = !cfg.storage.nfsExport || api.storage.backend == "directory";
        message = "services.housify.storage.nfsExport exports the directory store, but services.housify-api.storage.backend is s3.";
      }
      {
        assertion = !(cfg.http3 && lib.versionOlder config.services.nginx.package.version "1.25.0");
        message = "services.housify.http3 needs nginx >= 1.25.0 (services.nginx.package is ${config.services.nginx.package.version}).";
      }
    ];

    services.housify-api = {
      enable = mkDefault true;
      aiUrl = mkDefault "http://127.0.0.1:${toString cfg.aiProxyPort}";
      soapWsdlUrl = mkDefault "http://127.0.0.1:${toString soap.port}/soap?wsdl";
      publicUrl = mkDefault "https://${cfg.domain}";
      corsOrigins = mkDefault [ "https://${cfg.domain}" ];
      smtp = {
        host = mkDefault "127.0.0.1";
        port = mkDefault 25;
        from = mkDefault "Housify <no-reply@${cfg.domain}>";
      };
    };
    services.housify-soap.enable = mkDefault true;

    # --- nginx -------------------------------------------------------------
    # nixpkgs' default nginx (QUIC built in; nginxQuic is gone). Upstreams,
    # servers and locations are render-nginx.nix's text, nothing else.
    services.nginx = {
      enable = true;
      # http-level TLS defaults (ciphers, curves); the server's own ssl_* lines win.
      recommendedTlsSettings = true;
      recommendedOptimisation = true;
      recommendedGzipSettings = true;
      appendHttpConfig = nginxText;
    };
    # nginx serves the directory store for X-Accel-Redirect: group read.
    users.users.nginx.extraGroups = lib.optional (api.storage.backend == "directory") api.group;

    security.acme = mkIf cfg.tls.acme {
      acceptTerms = true;
      defaults.email = cfg.tls.acmeEmail;
      certs.${cfg.domain} = {
        webroot = acmeWebroot;
        group = "nginx";
        reloadServices = [ "nginx.service" ];
      };
    };
    # nixpkgs' acme module: acme-<cert> puts a self-signed placeholder in place
    # (so nginx starts), acme-order-renew-<cert> orders the real one over
    # HTTP-01, which needs nginx up.
    systemd.services.nginx = lib.mkMerge [
      (mkIf cfg.tls.acme {
        wants = [ "acme-${cfg.domain}.service" ];
        after = [ "acme-${cfg.domain}.service" ];
      })
      (mkIf (api.mediaUrlSecretFile != null) {
        serviceConfig.LoadCredential = [ "media-url-secret:${api.mediaUrlSecretFile}" ];
        # before nixpkgs' own config check: the include must exist when nginx parses its config
        serviceConfig.ExecStartPre = lib.mkBefore [ "${mediaSecretWriter}/bin/housify-media-secret" ];
      })
    ];
    systemd.services."acme-order-renew-${cfg.domain}" = mkIf cfg.tls.acme {
      wants = [ "nginx.service" ];
      after = [ "nginx.service" ];
    };

    # --- PostgreSQL --------------------------------------------------------
    services.postgresql = {
      enable = true;
      ensureDatabases = databases;
      ensureUsers = map (name: {
        inherit name;
        ensureDBOwnership = true;
      }) databases;
      # System users (housify, housify-ai, housify-soap) -> roles.
      identMap = ''
        housify housify housify
        housify housify-ai housify_ai
        housify housify-soap housify_soap
      '';
      authentication = lib.concatStrings (
        map (db: "local ${db} ${db} peer map=housify\n") databases
        ++ lib.optionals lanExposed (
          # TLS only (hostssl): a LAN client without TLS matches no line and is refused.
          map (s: "hostssl housify_ai housify_ai ${s} scram-sha-256\n") fw.internalSubnets
        )
      );
      settings = mkIf lanExposed {
        # nixpkgs sets "localhost" (or "*" with enableTCPIP): LAN address only.
        listen_addresses = lib.mkForce "localhost,${cfg.lan.address}";
        password_encryption = "scram-sha-256";
        ssl = true;
        ssl_cert_file = "/run/credentials/postgresql.service/tls-cert";
        ssl_key_file = "/run/credentials/postgresql.service/tls-key";
        ssl_min_protocol_version = "TLSv1.2";
      };
    };
    systemd.services.postgresql.serviceConfig.LoadCredential = mkIf lanExposed [
      "tls-cert:${cfg.postgresql.tls.certificate}"
      "tls-key:${cfg.postgresql.tls.certificateKey}"
    ];

    systemd.services.housify-postgresql-passwords = mkIf (cfg.postgresql.aiPasswordFile != null) {
      description = "Set the housify_ai role's password for remote AI hosts";
      wantedBy = [ "multi-user.target" ];
      after = hlib.postgresqlUnits;
      requires = hlib.postgresqlUnits;
      path = [ config.services.postgresql.package ];
      # The password is read by psql itself (backtick) from the credential,
      # so it never appears on a command line.
      script = ''
        psql -v ON_ERROR_STOP=1 -d postgres <<'SQL'
        \set pw `cat "$CREDENTIALS_DIRECTORY/ai-password"`
        ALTER ROLE housify_ai WITH PASSWORD :'pw';
        SQL
      '';
      serviceConfig = hlib.hardening // {
        Type = "oneshot";
        RemainAfterExit = true;
        User = "postgres";
        Group = "postgres";
        LoadCredential = [ "ai-password:${cfg.postgresql.aiPasswordFile}" ];
      };
    };

    services.postgresqlBackup = mkIf cfg.backup.enable {
      enable = true;
      inherit databases;
      inherit (cfg.backup) location;
      compression = "zstd";
      startAt = "*-*-* 02:15:00";
    };

    # --- Redis -------------------------------------------------------------
    services.redis.servers.housify = {
      enable = true;
      # Local services use the socket; AI hosts on the LAN reach TLS port 6379 (no plain TCP).
      port = 0;
      bind = if lanExposed then "127.0.0.1 ${cfg.lan.address}" else "127.0.0.1";
      requirePassFile = cfg.redis.passwordFile;
      unixSocketPerm = 660;
      # Queued jobs survive a Redis restart.
      appendOnly = true;
      # Job streams must never be evicted.
      settings = {
        maxmemory-policy = "noeviction";
      }
      // lib.optionalAttrs lanExposed {
        tls-port = 6379;
        tls-cert-file = "/run/credentials/redis-housify.service/tls-cert";
        tls-key-file = "/run/credentials/redis-housify.service/tls-key";
        # Clients prove themselves with the password (requirepass), not certificates.
        tls-auth-clients = "no";
        tls-protocols = "TLSv1.2 TLSv1.3";
      }
      // lib.optionalAttrs redisAcl { aclfile = redisAclFile; };
    };
    systemd.services.redis-housify.serviceConfig = {
      LoadCredential =
        lib.optionals lanExposed [
          "tls-cert:${cfg.redis.tls.certificate}"
          "tls-key:${cfg.redis.tls.certificateKey}"
        ]
        ++ lib.optionals redisAcl (
          lib.mapAttrsToList (user: file: "redis-user-${user}:${file}") cfg.redis.userPasswordFiles
          ++ lib.optional (cfg.redis.passwordFile != null) "redis-admin:${cfg.redis.passwordFile}"
        );
      ExecStartPre = lib.optionals redisAcl [ "${redisAclWriter}/bin/housify-redis-aclfile" ];
    };

    # --- image storage over NFS to the GPU hosts ----------------------------
    services.nfs.server = mkIf cfg.storage.nfsExport {
      enable = true;
      exports = ''
        ${api.storageDir} ${
          lib.concatMapStringsSep " " (s: "${s}(rw,sync,no_subtree_check,root_squash)") fw.internalSubnets
        }
      '';
    };

    # --- mail: send-only Postfix on loopback --------------------------------
    services.postfix = mkIf cfg.mail.enable {
      enable = true;
      settings.main = {
        myhostname = cfg.domain;
        myorigin = cfg.domain;
        mydestination = "";
        inet_interfaces = "loopback-only";
        mynetworks = [
          "127.0.0.0/8"
          "[::1]/128"
        ];
        smtp_tls_security_level = "may";
        smtpd_tls_security_level = "none";
      };
    };
  };
}
