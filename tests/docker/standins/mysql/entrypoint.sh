#!/bin/sh
# First start on an empty data directory: create it, the root password, MYSQL_DATABASE and
# MYSQL_USER/MYSQL_PASSWORD, as the official image does; then serve on every address.
set -eu
datadir=/var/lib/mysql
mkdir -p /run/mysqld
chown mysql:mysql /run/mysqld "$datadir"

sql_quote() { printf "%s" "$1" | sed "s/'/''/g"; }

if [ ! -d "$datadir/mysql" ]; then
    mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db >/dev/null
    mariadbd --user=mysql --datadir="$datadir" --skip-networking --socket=/run/mysqld/init.sock &
    pid=$!
    tries=0
    until mariadb-admin --socket=/run/mysqld/init.sock ping >/dev/null 2>&1; do
        tries=$((tries + 1))
        [ "$tries" -lt 120 ] || { echo "standin mysql: init server did not start" >&2; exit 1; }
        sleep 0.5
    done
    root_pw=$(sql_quote "${MYSQL_ROOT_PASSWORD:-}")
    {
        echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$root_pw';"
        echo "CREATE USER 'root'@'%' IDENTIFIED BY '$root_pw';"
        echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
        if [ -n "${MYSQL_DATABASE:-}" ]; then
            echo "CREATE DATABASE IF NOT EXISTS \`$MYSQL_DATABASE\`;"
        fi
        if [ -n "${MYSQL_USER:-}" ]; then
            echo "CREATE USER '$(sql_quote "$MYSQL_USER")'@'%' IDENTIFIED BY '$(sql_quote "${MYSQL_PASSWORD:-}")';"
            if [ -n "${MYSQL_DATABASE:-}" ]; then
                echo "GRANT ALL ON \`$MYSQL_DATABASE\`.* TO '$(sql_quote "$MYSQL_USER")'@'%';"
            fi
        fi
        echo "FLUSH PRIVILEGES;"
    } | mariadb --socket=/run/mysqld/init.sock -uroot
    kill "$pid"
    wait "$pid" || true
fi

if [ "$1" = mariadbd ] || [ "$1" = mysqld ]; then
    shift
    exec mariadbd --user=mysql --datadir="$datadir" --bind-address=0.0.0.0 --port=3306 \
        --skip-name-resolve --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci "$@"
fi
exec "$@"
