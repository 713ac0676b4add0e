/*
 * JmxBridge: reads MBean attributes over JMX/RMI for kafka-self-healing.
 *
 * Owns: JMX connections (one cached connector per URL and user), time limits,
 * and a JSON-lines protocol on stdin/stdout. JDK only: no dependencies.
 * Must never: write anything but one JSON object per line to stdout, invoke
 * an MBean operation or set an attribute (read-only), or print a password.
 *
 * Request (one line):
 *   {"id": 7, "url": "service:jmx:rmi:///jndi/rmi://host:9999/jmxrmi",
 *    "username": "u" | null, "password": "p" | null, "timeout_ms": 10000,
 *    "read": [["kafka.server:type=KafkaServer,name=BrokerState", "Value"], ...]}
 * Answer (one line, same id; answers may come in any order):
 *   {"id": 7, "ok": true, "values": [{"value": 3}, {"error": "not_found", "detail": "..."}]}
 *   {"id": 7, "ok": false, "kind": "refused|timeout|auth|io|bad_request", "detail": "..."}
 * The bridge exits when stdin closes (the daemon is gone).
 */

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import javax.management.AttributeNotFoundException;
import javax.management.InstanceNotFoundException;
import javax.management.MBeanServerConnection;
import javax.management.MalformedObjectNameException;
import javax.management.ObjectName;
import javax.management.remote.JMXConnector;
import javax.management.remote.JMXConnectorFactory;
import javax.management.remote.JMXServiceURL;

public final class JmxBridge {
    private static final Map<String, JMXConnector> CONNECTORS = new ConcurrentHashMap<>();
    /** Runs requests; drained before exit. */
    private static final ExecutorService REQUESTS = Executors.newCachedThreadPool(r -> daemon(r, "jmx-request"));
    /** Runs the JMX calls, which may hang; abandoned on timeout. */
    private static final ExecutorService POOL = Executors.newCachedThreadPool(r -> daemon(r, "jmx-call"));
    private static final PrintStream OUT =
            new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);

    public static void main(String[] args) throws IOException {
        // Nothing else may reach stdout: the protocol owns it.
        System.setOut(System.err);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            final String request = line;
            REQUESTS.submit(() -> handle(request));
        }
        // stdin closed: answer what was asked, then go.
        REQUESTS.shutdown();
        try {
            REQUESTS.awaitTermination(60, TimeUnit.SECONDS);
        } catch (InterruptedException ignored) {
            // Exit anyway.
        }
        System.exit(0);
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    /** A failure of the whole request, with its kind for the daemon. */
    private static final class Failure extends Exception {
        private static final long serialVersionUID = 1L;
        final String kind;

        Failure(String kind, String detail) {
            super(detail);
            this.kind = kind;
        }
    }

    @SuppressWarnings("unchecked")
    private static void handle(String line) {
        Object id = null;
        String answer;
        try {
            Object parsed = new Json(line).parse();
            if (!(parsed instanceof Map)) {
                throw new Failure("bad_request", "a request is a JSON object");
            }
            Map<String, Object> request = (Map<String, Object>) parsed;
            id = request.get("id");
            long timeout = request.get("timeout_ms") instanceof Number
                    ? ((Number) request.get("timeout_ms")).longValue()
                    : 10_000L;
            Future<String> work = POOL.submit(() -> read(request));
            try {
                answer = work.get(timeout, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                work.cancel(true);
                forget(key(request));
                throw new Failure("timeout", "no answer within " + timeout + " ms");
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof Failure) {
                    throw (Failure) cause;
                }
                throw new Failure("io", describe(cause));
            }
        } catch (Failure f) {
            answer = "\"ok\":false,\"kind\":" + quote(f.kind) + ",\"detail\":" + quote(f.getMessage());
        } catch (Exception e) {
            answer = "\"ok\":false,\"kind\":\"bad_request\",\"detail\":" + quote(describe(e));
        }
        String idJson = id instanceof Number ? Long.toString(((Number) id).longValue()) : "null";
        synchronized (OUT) {
            OUT.println("{\"id\":" + idJson + "," + answer + "}");
        }
    }

    private static String key(Map<String, Object> request) {
        return request.get("url") + "|" + request.get("username");
    }

    private static void forget(String key) {
        JMXConnector c = CONNECTORS.remove(key);
        if (c != null) {
            POOL.submit(() -> {
                try {
                    c.close();
                } catch (IOException ignored) {
                    // Already broken.
                }
            });
        }
    }

    @SuppressWarnings("unchecked")
    private static String read(Map<String, Object> request) throws Failure {
        if (!(request.get("url") instanceof String) || !(request.get("read") instanceof List)) {
            throw new Failure("bad_request", "`url` (string) and `read` (list) are required");
        }
        String key = key(request);
        List<Object> reads = (List<Object>) request.get("read");
        // A cached connection may be stale (the broker restarted): on an I/O
        // error, reconnect once; a fresh connection's error is the answer.
        for (int attempt = 0; ; attempt++) {
            boolean cached = CONNECTORS.containsKey(key);
            JMXConnector connector = connector(request, key);
            try {
                MBeanServerConnection mbsc = connector.getMBeanServerConnection();
                StringBuilder values = new StringBuilder();
                for (Object item : reads) {
                    if (values.length() > 0) {
                        values.append(',');
                    }
                    values.append(readOne(mbsc, item));
                }
                return "\"ok\":true,\"values\":[" + values + "]";
            } catch (IOException e) {
                forget(key);
                if (!cached || attempt > 0) {
                    throw new Failure(kind(e), describe(e));
                }
            }
        }
    }

    private static String readOne(MBeanServerConnection mbsc, Object item) throws IOException {
        if (!(item instanceof List) || ((List<?>) item).size() != 2) {
            return "{\"error\":\"bad_request\",\"detail\":\"each read is [mbean, attribute]\"}";
        }
        String mbean = String.valueOf(((List<?>) item).get(0));
        String attribute = String.valueOf(((List<?>) item).get(1));
        try {
            Object value = mbsc.getAttribute(new ObjectName(mbean), attribute);
            return "{\"value\":" + valueJson(value) + "}";
        } catch (InstanceNotFoundException e) {
            return "{\"error\":\"not_found\",\"detail\":" + quote("no MBean " + mbean) + "}";
        } catch (AttributeNotFoundException e) {
            return "{\"error\":\"not_found\",\"detail\":" + quote("no attribute " + attribute + " on " + mbean) + "}";
        } catch (MalformedObjectNameException e) {
            return "{\"error\":\"bad_request\",\"detail\":" + quote("bad MBean name " + mbean) + "}";
        } catch (IOException e) {
            throw e;
        } catch (Exception e) {
            return "{\"error\":\"error\",\"detail\":" + quote(describe(e)) + "}";
        }
    }

    private static JMXConnector connector(Map<String, Object> request, String key) throws Failure {
        JMXConnector existing = CONNECTORS.get(key);
        if (existing != null) {
            return existing;
        }
        Map<String, Object> env = new HashMap<>();
        Object user = request.get("username");
        if (user instanceof String) {
            Object password = request.get("password");
            env.put(JMXConnector.CREDENTIALS, new String[] {(String) user, password == null ? "" : password.toString()});
        }
        try {
            JMXConnector connector = JMXConnectorFactory.connect(new JMXServiceURL((String) request.get("url")), env);
            CONNECTORS.put(key, connector);
            return connector;
        } catch (SecurityException e) {
            throw new Failure("auth", "JMX refused the credentials: " + e.getMessage());
        } catch (IOException e) {
            throw new Failure(kind(e), describe(e));
        }
    }

    private static String kind(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof java.net.ConnectException || t instanceof java.rmi.ConnectException) {
                return "refused";
            }
            if (t instanceof java.net.SocketTimeoutException) {
                return "timeout";
            }
            if (t instanceof SecurityException) {
                return "auth";
            }
        }
        return "io";
    }

    private static String describe(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String message = root.getMessage() == null ? "" : ": " + root.getMessage();
        return root.getClass().getSimpleName() + message;
    }

    private static String valueJson(Object value) {
        if (value instanceof Number) {
            double d = ((Number) value).doubleValue();
            if (Double.isNaN(d) || Double.isInfinite(d)) {
                return quote(String.valueOf(d));
            }
            return value instanceof Double || value instanceof Float ? Double.toString(d) : value.toString();
        }
        if (value instanceof Boolean) {
            return value.toString();
        }
        return value == null ? "null" : quote(value.toString());
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
            }
        }
        return b.append('"').toString();
    }

    /** A small JSON reader: objects, arrays, strings, numbers, booleans, null. */
    static final class Json {
        private final String s;
        private int i;

        Json(String s) {
            this.s = s;
        }

        Object parse() throws Failure {
            Object v = value();
            space();
            if (i != s.length()) {
                throw error("trailing characters");
            }
            return v;
        }

        private Failure error(String what) {
            return new Failure("bad_request", "bad JSON at column " + (i + 1) + ": " + what);
        }

        private void space() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
        }

        private Object value() throws Failure {
            space();
            if (i >= s.length()) {
                throw error("unexpected end");
            }
            char c = s.charAt(i);
            if (c == '{') {
                i++;
                Map<String, Object> m = new LinkedHashMap<>();
                space();
                if (peek('}')) {
                    return m;
                }
                do {
                    space();
                    String k = string();
                    space();
                    expect(':');
                    m.put(k, value());
                    space();
                } while (peek(','));
                expect('}');
                return m;
            }
            if (c == '[') {
                i++;
                List<Object> l = new ArrayList<>();
                space();
                if (peek(']')) {
                    return l;
                }
                do {
                    l.add(value());
                    space();
                } while (peek(','));
                expect(']');
                return l;
            }
            if (c == '"') {
                return string();
            }
            if (s.startsWith("true", i)) {
                i += 4;
                return Boolean.TRUE;
            }
            if (s.startsWith("false", i)) {
                i += 5;
                return Boolean.FALSE;
            }
            if (s.startsWith("null", i)) {
                i += 4;
                return null;
            }
            int start = i;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
            if (start == i) {
                throw error("unexpected character '" + c + "'");
            }
            String n = s.substring(start, i);
            try {
                return n.matches("-?\\d+") ? (Object) Long.parseLong(n) : (Object) Double.parseDouble(n);
            } catch (NumberFormatException e) {
                throw error("bad number " + n);
            }
        }

        private boolean peek(char c) {
            if (i < s.length() && s.charAt(i) == c) {
                i++;
                return true;
            }
            return false;
        }

        private void expect(char c) throws Failure {
            if (!peek(c)) {
                throw error("expected '" + c + "'");
            }
        }

        private String string() throws Failure {
            expect('"');
            StringBuilder b = new StringBuilder();
            while (i < s.length()) {
                char c = s.charAt(i++);
                if (c == '"') {
                    return b.toString();
                }
                if (c != '\\') {
                    b.append(c);
                    continue;
                }
                if (i >= s.length()) {
                    break;
                }
                char e = s.charAt(i++);
                switch (e) {
                    case 'n': b.append('\n'); break;
                    case 't': b.append('\t'); break;
                    case 'r': b.append('\r'); break;
                    case 'b': b.append('\b'); break;
                    case 'f': b.append('\f'); break;
                    case 'u':
                        if (i + 4 > s.length()) {
                            throw error("bad \\u escape");
                        }
                        b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                        i += 4;
                        break;
                    default: b.append(e);
                }
            }
            throw error("unterminated string");
        }
    }
}
