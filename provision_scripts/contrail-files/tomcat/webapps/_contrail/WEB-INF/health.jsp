<%@ page session="false" contentType="application/json; charset=UTF-8" pageEncoding="UTF-8"
    trimDirectiveWhitespaces="true"
    import="java.lang.management.ManagementFactory, java.util.HashMap, java.util.Map, java.util.TreeMap,
            javax.management.Attribute, javax.management.AttributeList, javax.management.MBeanServer, javax.management.ObjectName" %><%!
// GET /_contrail/health: this node and the versions of the ROOT context (path "") as Tomcat itself sees them,
// read through JMX in this JVM, without calling the app:
//   {"node": "app1", "release": "<r>", "versions": [{"version": "<v>", "state": "STARTED", "sessions": 2}, ...]}
// release: the newest STARTED version, the one Tomcat gives new sessions to (it compares versions as
// strings, as TreeMap does); "placeholder" when that is the unversioned placeholder ROOT, "none" when no
// ROOT is started. Polled every 0.25 s by each web node: a few in-memory MBean reads, and no session
// (session="false"), so the health checks never keep anything alive.
private static final MBeanServer MBEANS = ManagementFactory.getPlatformMBeanServer();
private static final ObjectName ENGINE = objectName("Catalina:type=Engine");
private static final ObjectName MODULES = objectName("Catalina:j2eeType=WebModule,*");
private static final ObjectName MANAGERS = objectName("Catalina:type=Manager,host=localhost,*");
private static final String[] MODULE_ATTRIBUTES = {"path", "webappVersion", "stateName"};

private static ObjectName objectName(String name) {
    try {
        return new ObjectName(name);
    } catch (Exception e) {
        throw new IllegalStateException(e);
    }
}

private static String quote(String value) {
    StringBuilder out = new StringBuilder("\"");
    for (char c : value.toCharArray()) {
        if (c == '"' || c == '\\') {
            out.append('\\').append(c);
        } else if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
        } else {
            out.append(c);
        }
    }
    return out.append('"').toString();
}

private static Object attribute(ObjectName name, String attribute) {
    try {
        return MBEANS.getAttribute(name, attribute);
    } catch (Exception e) {
        return null;  // unregistered meanwhile (an undeploy): counts as absent
    }
}
%><%
response.setHeader("Cache-Control", "no-store");
Object route = attribute(ENGINE, "jvmRoute");
String node = route != null ? route.toString() : System.getProperty("contrail.node", "");

// Sessions per context: a Manager's context key is "/" for ROOT and "/##<version>" for a version of it.
Map<String, Object> sessions = new HashMap<>();
for (ObjectName manager : MBEANS.queryNames(MANAGERS, null)) {
    sessions.put(manager.getKeyProperty("context"), attribute(manager, "activeSessions"));
}
TreeMap<String, String> states = new TreeMap<>();
for (ObjectName module : MBEANS.queryNames(MODULES, null)) {
    AttributeList values;
    try {
        values = MBEANS.getAttributes(module, MODULE_ATTRIBUTES);
    } catch (Exception e) {
        continue;
    }
    Map<String, Object> value = new HashMap<>();
    for (Attribute attribute : values.asList()) {
        value.put(attribute.getName(), attribute.getValue());
    }
    if ("".equals(value.get("path"))) {
        Object version = value.get("webappVersion");
        states.put(version == null ? "" : version.toString(), String.valueOf(value.get("stateName")));
    }
}

String release = "none";
StringBuilder versions = new StringBuilder();
for (Map.Entry<String, String> entry : states.entrySet()) {
    String version = entry.getKey();
    if ("STARTED".equals(entry.getValue())) {
        release = version.isEmpty() ? "placeholder" : version;
    }
    Object count = sessions.get(version.isEmpty() ? "/" : "/##" + version);
    versions.append(versions.length() == 0 ? "" : ", ")
        .append("{\"version\": ").append(quote(version))
        .append(", \"state\": ").append(quote(entry.getValue()))
        .append(", \"sessions\": ").append(count instanceof Number ? count : 0).append('}');
}
out.write("{\"node\": " + quote(node) + ", \"release\": " + quote(release) + ", \"versions\": [" + versions + "]}\n");
%>
