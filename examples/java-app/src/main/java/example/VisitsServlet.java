package example;

import jakarta.servlet.annotation.WebServlet;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpSession;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;

/**
 * The example's one page: which Tomcat answered, which release it runs, and how many times this
 * session has visited. Sessions live in one Tomcat each (the web nodes route a session's requests to
 * the Tomcat that made it, by the jvmRoute at the end of JSESSIONID), and a push deploys a new release
 * beside the running one: a session that began on the old release keeps its counter on it.
 */
@WebServlet("/")
public class VisitsServlet extends HttpServlet {
    @Override
    protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException {
        if (!"/".equals(request.getServletPath()) || request.getPathInfo() != null) {
            response.sendError(HttpServletResponse.SC_NOT_FOUND);
            return;
        }
        HttpSession session = request.getSession();
        int visits;
        synchronized (session) {
            Integer seen = (Integer) session.getAttribute("visits");
            visits = seen == null ? 1 : seen + 1;
            session.setAttribute("visits", visits);
        }
        response.setContentType("text/html; charset=UTF-8");
        response.setHeader("Cache-Control", "no-store");
        try (PrintWriter page = response.getWriter()) {
            page.println("<!doctype html>");
            page.println("<title>Contrail on Tomcat</title>");
            page.println("<h1>Hello from Contrail on Tomcat</h1>");
            page.printf("<p>Served by <b id=\"node\">%s</b>, release <b id=\"release\">%s</b>.</p>%n",
                    escape(System.getProperty("contrail.node", "?")), escape(release()));
            page.printf("<p>This session has visited <b id=\"visits\">%d</b> time%s.</p>%n",
                    visits, visits == 1 ? "" : "s");
        }
    }

    /** The version this webapp was deployed as (Tomcat's parallel deployment: webapps/ROOT##RELEASE). */
    private String release() {
        String base = getServletContext().getRealPath("/");
        if (base == null) {
            return "unknown";
        }
        String name = Path.of(base).getFileName().toString();
        int mark = name.indexOf("##");
        return mark < 0 ? "unversioned" : name.substring(mark + 2);
    }

    private static String escape(String text) {
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
