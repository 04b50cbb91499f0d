#!/bin/sh
# The official image's contract, in short: arguments that start with "-" are the
# server's; an empty data directory is initialised with MYSQL_ROOT_PASSWORD for
# root@'%' (and localhost) before the server starts listening.
set -eu
if [ "${1#-}" != "$1" ]; then
    set -- mariadbd "$@"
fi
if [ "$1" != mariadbd ] && [ "$1" != mysqld ]; then
    exec "$@"
fi
shift
chown -R mysql:mysql /var/lib/mysql /run/mysqld
if [ ! -d /var/lib/mysql/mysql ]; then
    : "${MYSQL_ROOT_PASSWORD:?the database is uninitialised: set MYSQL_ROOT_PASSWORD}"
    echo "entrypoint: initialising /var/lib/mysql"
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql --auth-root-authentication-method=normal \
        --skip-test-db >/dev/null
    mariadbd --user=mysql --skip-networking --socket=/run/mysqld/init.sock &
    for _ in $(seq 60); do
        mariadb-admin --socket=/run/mysqld/init.sock ping >/dev/null 2>&1 && break
        sleep 0.5
    done
    password=$(printf '%s' "$MYSQL_ROOT_PASSWORD" | sed "s/'/''/g")
    # As in the official image: root@localhost and root@'%', both with the password,
    # and none of the password-less root@127.0.0.1, root@::1, root@<hostname>.
    mariadb --socket=/run/mysqld/init.sock -N -e \
        "SELECT CONCAT('DROP USER ', QUOTE(user), '@', QUOTE(host), ';') FROM mysql.global_priv
         WHERE user = 'root' AND host <> 'localhost'" | mariadb --socket=/run/mysqld/init.sock
    mariadb --socket=/run/mysqld/init.sock <<SQL
CREATE USER 'root'@'%' IDENTIFIED BY '$password';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
ALTER USER 'root'@'localhost' IDENTIFIED BY '$password';
FLUSH PRIVILEGES;
SQL
    mariadb-admin --socket=/run/mysqld/init.sock --user=root --password="$MYSQL_ROOT_PASSWORD" shutdown
    wait
    echo "entrypoint: initialised; starting the server"
fi
exec mariadbd --user=mysql --bind-address=0.0.0.0 --skip-name-resolve "$@"
