package contrail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import jakarta.servlet.ServletException;

import org.apache.catalina.connector.Request;
import org.apache.catalina.connector.Response;
import org.apache.catalina.valves.ValveBase;

/**
 * `contrail drill slow` on a tomcat box: every app request waits the milliseconds written in
 * /srv/app/run/slow-ms (by the drill; `drill restore` removes the file), as the app box's WSGI wrapper does.
 * Contrail's health endpoint and the manager stay fast: a slow app stays in rotation, as with the app box.
 * Compiled at build time by provision_scripts/tomcat.sh; a Valve of the Host in server.xml.
 */
public final class SlowValve extends ValveBase {
    private static final Path SLOW_FILE = Path.of("/srv/app/run/slow-ms");

    public SlowValve() {
        super(true);
    }

    @Override
    public void invoke(Request request, Response response) throws IOException, ServletException {
        String context = request.getContextPath();
        if (!"/_contrail".equals(context) && !"/manager".equals(context)) {
            long delay = delay();
            if (delay > 0) {
                try {
                    Thread.sleep(delay);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
        getNext().invoke(request, response);
    }

    private static long delay() {
        if (!Files.exists(SLOW_FILE)) {
            return 0;  // no drill: one stat per request
        }
        try {
            return Math.max(0, Long.parseLong(new String(Files.readAllBytes(SLOW_FILE), StandardCharsets.US_ASCII).trim()));
        } catch (IOException | NumberFormatException e) {
            return 0;
        }
    }
}
