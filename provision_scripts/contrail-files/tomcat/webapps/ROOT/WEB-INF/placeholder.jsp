<%@ page session="false" contentType="text/plain; charset=UTF-8" pageEncoding="UTF-8" trimDirectiveWhitespaces="true" %><%
// No session: a placeholder holding sessions would not be undeployed when the first release starts.
out.write("Contrail: " + System.getProperty("contrail.node", "this server")
    + " is up; no release is live yet (run `fab push`).\n");
%>
