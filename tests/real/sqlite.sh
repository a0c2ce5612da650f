#!/usr/bin/env bash
# sqlite.sh — real_sqlite: builds a database from a generated SQL script (inserts, updates,
# indices, joins, group by, window functions, vacuum) with and without libheapkit.so preloaded;
# the query output must be identical. Arg 1: libheapkit.so.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need sqlite3
check_preload_effective

# The SQL is generated deterministically by the shell, then fed to sqlite3 in one go.
gen_sql() {
    cat <<'SQL'
PRAGMA journal_mode = WAL;
PRAGMA cache_size = -20000;
CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT, joined INTEGER);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER REFERENCES customers(id),
                    amount REAL, note TEXT, day INTEGER);
CREATE TABLE items(order_id INTEGER, sku TEXT, qty INTEGER, price REAL);
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO customers SELECT i, 'customer-' || i || '-' || substr('abcdefghijklmnopqrstuvwxyz', 1 + i % 26),
       'city' || (i % 97), 1600000000 + i * 37 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120000)
INSERT INTO orders SELECT i, 1 + (i * 7919) % 20000, ((i * 104729) % 100000) / 100.0,
       printf('order %d: %s', i, replace(hex(zeroblob(i % 40)), '00', 'ab')), i % 365 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150000)
INSERT INTO items SELECT 1 + (i * 31) % 120000, 'sku-' || (i % 5000), 1 + i % 9, (i % 1000) / 10.0 FROM n;
COMMIT;
SQL
    # many small statements, each parsed separately
    echo "BEGIN;"
    for i in $(seq 1 3000); do
        echo "INSERT INTO customers(name, city, joined) VALUES('late-$i', 'city$((i % 11))', $((1700000000 + i)));"
        if [ $((i % 30)) -eq 0 ]; then
            echo "UPDATE orders SET amount = amount * 1.01, note = note || ' upd$i' WHERE id % 3000 = $i;"
        fi
    done
    echo "COMMIT;"
    cat <<'SQL'
CREATE INDEX orders_customer ON orders(customer);
CREATE INDEX orders_day ON orders(day, amount);
CREATE INDEX items_order ON items(order_id, sku);
CREATE UNIQUE INDEX customers_name ON customers(name);
DELETE FROM items WHERE qty = 5 AND price > 90;
UPDATE customers SET city = upper(city) WHERE id % 10 = 0;
ANALYZE;
.mode list
SELECT 'customers', count(*), sum(length(name)) FROM customers;
SELECT 'orders', count(*), printf('%.2f', sum(amount)) FROM orders;
SELECT 'items', count(*), sum(qty) FROM items;
SELECT c.city, count(DISTINCT c.id), count(o.id), printf('%.2f', sum(o.amount))
  FROM customers c JOIN orders o ON o.customer = c.id
  GROUP BY c.city ORDER BY sum(o.amount) DESC, c.city LIMIT 15;
SELECT o.day, count(*), printf('%.2f', avg(i.price * i.qty))
  FROM orders o JOIN items i ON i.order_id = o.id
  WHERE o.day BETWEEN 100 AND 110 GROUP BY o.day ORDER BY o.day;
SELECT sku, total FROM (SELECT sku, sum(qty) AS total, rank() OVER (ORDER BY sum(qty) DESC, sku) AS r
  FROM items GROUP BY sku) WHERE r <= 10;
SELECT customer, id, printf('%.2f', running) FROM (
  SELECT customer, id, sum(amount) OVER (PARTITION BY customer ORDER BY id) AS running
  FROM orders WHERE customer < 4) ORDER BY customer, id LIMIT 30;
SELECT name FROM customers WHERE name LIKE 'late-29%' ORDER BY name;
SELECT group_concat(id, ',') FROM (SELECT id FROM orders WHERE note LIKE '%upd2970%' ORDER BY id);
SELECT length(group_concat(note, '|')) FROM orders WHERE day = 7;
SELECT count(*) FROM orders WHERE customer NOT IN (SELECT id FROM customers);
WITH RECURSIVE fib(a, b, k) AS (SELECT 0, 1, 0 UNION ALL SELECT b, a + b, k + 1 FROM fib WHERE k < 80)
  SELECT max(a) FROM fib;
SELECT json_group_array(json_object('id', id, 'city', city)) FROM (SELECT id, city FROM customers WHERE id % 1500 = 0 ORDER BY id);
VACUUM;
PRAGMA integrity_check;
SELECT 'after vacuum', count(*) FROM orders;
SQL
}

workload() {
    gen_sql >input.sql
    sqlite3 test.db <input.sql
    # a second process reopens the database
    sqlite3 test.db "SELECT count(*), max(id) FROM customers; PRAGMA integrity_check;"
    sqlite3 test.db ".dump customers" | tail -3
}
run_pair sqlite workload
